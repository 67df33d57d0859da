// The trash-bin verdict: how much of a model's belief goes to "a trash bin is in this photo".
//
// bin score = the sum of the probabilities of the bin labels (by default ImageNet class 412,
// "ashcan, trash can, ..."); verdict = bin score >= threshold; bin rank = the 1-based rank of the
// best bin label among all classes, so "the model's 3rd guess was a trash can" can be reported.
// Remote results carry only the top-k: the score is then a lower bound and the rank is unknown
// when no bin label is among the k returned.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "classify/classifier.h"
#include "pipeline/run.h"

namespace binscan {

inline constexpr std::string_view kImageNetBinLabel =
    "ashcan, trash can, garbage can, wastebin, ash bin, ash-bin, ashbin, dustbin, trash barrel, "
    "trash bin";
inline constexpr int kImageNetBinClassId = 412;

// The default threshold, and why:
//  - An ImageNet model that knows nothing spreads its belief evenly: 1/1000 = 0.001 per class.
//    0.1 is 100x that prior, far above the noise level of a class the model merely "considers".
//  - Students reading the Hugging Face widget (top-5 with scores) call a bin "recognised" when the
//    trash-can row shows a real bar, roughly 10% and up; rows of 0.0x next to a dominant class are
//    read as noise. A 0.1 threshold reproduces that judgement for a whole folder.
//  - Street scenes are cluttered (cars, signs, benches share the frame), so even a clearly visible
//    bin rarely gets a majority: 0.5 would miss most of them.
// The bin rank is stored as well, for the stricter "top-1" or looser "anywhere in the top-5"
// readings, and --threshold changes the cut.
inline constexpr double kDefaultBinThreshold = 0.1;

// The bin labels of one model, resolved from the user's --bin-label specs.
struct BinLabels {
  std::vector<int> class_ids;       // local models: the matched class ids (sorted)
  std::vector<std::string> labels;  // the label texts (local: from id2label; remote: as given)
  std::vector<std::string> unmatched_specs;  // specs that matched nothing for this model
};

// Specs are label texts or class ids ("412"); the word "default" means the ImageNet trash-can
// class (for a zero-shot model: its candidate labels that are not "no bin" descriptions, which
// is also what an empty list gives). An empty list means {"default"}. A text matches a label
// exactly or one of its comma-separated synonyms, case-insensitively ("trash can" matches class
// 412); a synonym shared by several labels is an error (give the full label or the id). For a local
// model (labels known) every spec is resolved against its labels; specs that match nothing are
// reported in unmatched_specs, and a model that none match is an Error(kConfig) listing some of its
// labels. For a remote model (labels unknown) text specs are kept for matching the returned labels;
// a numeric id is an Error(kConfig).
BinLabels resolve_bin_labels(const std::vector<std::string>& specs, const ModelInfo& model);

// The default bin labels of a zero-shot model are its candidate labels that are not a "no bin"
// description: a label is one when it holds a negation as a word (no, not, without, none,
// nothing, never, isn't, aren't; case-insensitive), as in "a street with no bin" or "not a
// trash can". Everything else counts as a bin ("an underground waste container", "a litter
// bin"), so a set such as {"a bin", "a bicycle"} wants an explicit --bin-label.
bool is_no_bin_description(std::string_view label);

// True when `label` is matched by the text `spec` (exact or synonym, case-insensitive).
bool label_matches(std::string_view label, std::string_view spec);

// The --bin-label specs meant for one of several models given together (scan, serve), so one
// list serves a ResNet and a CLIP model: a zero-shot model takes "default" and the specs naming
// one of its candidate labels (model.labels); a classifier takes the others, those naming none of
// `candidates` (the CLIP models' labels). When the candidates are not known beforehand (serve:
// each request brings its own), pass nullopt: a classifier then takes "default", class ids and
// the specs naming one of its own labels, and leaves the rest to the zero-shot requests. An empty
// result means the model's default.
std::vector<std::string> bin_specs_for(const ModelInfo& model,
                                       const std::vector<std::string>& specs,
                                       const std::optional<std::vector<std::string>>& candidates);

struct BinVerdict {
  double score = 0;         // sum of the bin labels' probabilities (lower bound when !exact)
  bool exact = true;        // false when only the top-k were known
  std::optional<int> rank;  // 1-based rank of the best bin label; nullopt: not in the top-k
  int known_ranks = 0;      // how many ranks were known (all classes, or k for remote)
  double threshold = kDefaultBinThreshold;
  bool verdict = false;  // score >= threshold
};

// Uses the full probability vector when present (local), otherwise the top-k predictions.
BinVerdict judge_bins(const Classification& result, const BinLabels& bins, double threshold);

// The verdict over a photo and its tiles (--tiles): the photo's bin score is the highest of the
// whole photo's and every tile's, so a bin that is a few pixels in the whole view but plain in a
// tile is found; the tile with the highest bin score is named, so a user can see where.
struct TiledVerdict {
  BinVerdict photo;  // the whole photo's
  BinVerdict best;   // the better of the photo and its best tile (the photo without tiles)
  // The tile with the highest bin score (ties: the first, row by row) and its verdict; nullopt
  // without tiles or when no tile has a result.
  std::optional<std::size_t> best_tile;
  std::optional<BinVerdict> tile;
};

TiledVerdict judge_tiles(const Classification& photo, std::span<const TileRun> tiles,
                         const BinLabels& bins, double threshold);

}  // namespace binscan
