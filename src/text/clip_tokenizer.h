// Layer text/ owns turning label text into token ids as transformers' tokenizers do (CLIP's
// byte-level BPE). May use: util.
//
// transformers' two CLIP tokenizers (ClipTokenizer::Flavor). Both: a clean-up, the
// pre-tokenisation pattern
//   <\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+
// byte-level BPE with the "</w>" end-of-word marker, then <|startoftext|> ... <|endoftext|>,
// truncated to the context length. Unicode properties come from ICU.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace binscan {

// Token ids of several texts padded to the longest, as tokenizer(texts, padding=True) returns
// them: ids [n][len] with pad_id after each text's end, mask 1 on real tokens, 0 on padding.
struct TokenBatch {
  std::vector<std::vector<std::int64_t>> ids;
  std::vector<std::vector<std::int64_t>> mask;
  std::vector<std::size_t> lengths;  // each text's tokens before padding (bos and eos included)
};

// The zero-shot pipeline's hypothesis_template.format(label): "{}" and "{0}" become the label,
// "{{" and "}}" braces; any other field is Error(kConfig) naming the template (Python would fail
// too). A template without a field gives the template (Python ignores the unused argument).
std::string format_hypothesis(std::string_view hypothesis_template, std::string_view label);

class ClipTokenizer {
 public:
  // They differ on CJK ideographs written without spaces, on control and format characters and
  // on a few whitespace characters; elsewhere they give the same ids.
  enum class Flavor {
    // CLIPTokenizerFast (tokenizers' CLIPConverter): NFC, every run of White_Space to one space,
    // lower case code point by code point (no Final_Sigma), the special tokens matched on that,
    // the pattern case-sensitive. AutoTokenizer loads it, so the zero-shot pipeline uses it; on
    // CJK it agrees with OpenAI's own tokenizer and with CLIPTokenizer when ftfy is installed.
    kFast,
    // CLIPTokenizer without ftfy: BasicTokenizer clean-up (control characters dropped,
    // whitespace runs to one space, CJK ideographs split apart, NFC, lower case), the pattern
    // case-insensitive.
    kSlow,
  };

  // vocab: token -> id; merges in rank order (the first is applied first).
  ClipTokenizer(std::unordered_map<std::string, std::int64_t> vocab,
                std::vector<std::pair<std::string, std::string>> merges,
                std::string pad_token = "<|endoftext|>", Flavor flavor = Flavor::kFast);

  // From a model directory: vocab.json + merges.txt (merges.txt read as CLIPTokenizer reads it:
  // the first line skipped, at most 48894 merges), else tokenizer.json's BPE model. The pad token
  // from tokenizer_config.json / special_tokens_map.json when they name one. Throws Error(kIo /
  // kFormat / kNotFound) naming the file.
  static ClipTokenizer from_dir(const std::filesystem::path& dir, Flavor flavor = Flavor::kFast);
  static bool dir_has_tokenizer(const std::filesystem::path& dir);

  // The BPE tokens of `text` (no start/end tokens), as the tokenizer's tokenize gives them.
  std::vector<std::string> tokenize(std::string_view text) const;
  // <|startoftext|> ids <|endoftext|>, the ids cut so that the whole fits `max_length` (> 2) as
  // truncation=True does; max_length <= 0: no truncation.
  std::vector<std::int64_t> encode(std::string_view text, int max_length = 77) const;
  TokenBatch encode_batch(const std::vector<std::string>& texts, int max_length = 77) const;

  std::int64_t bos_id() const { return bos_; }
  std::int64_t eos_id() const { return eos_; }
  std::int64_t pad_id() const { return pad_; }
  std::size_t vocab_size() const { return vocab_.size(); }

 private:
  std::int64_t id_of(const std::string& token) const;
  // Applies the merges to one pre-token (already mapped to the byte alphabet).
  void bpe(const std::string& word, std::vector<std::string>& out) const;
  // The slow clean-up (none for fast: its text is normalised before) and the pattern, for text
  // without special tokens.
  void tokenize_plain(std::string_view text, std::vector<std::string>& out) const;

  std::unordered_map<std::string, std::int64_t> vocab_;
  std::unordered_map<std::string, int> ranks_;  // "first second" -> rank
  std::vector<std::string> specials_;           // split out of the text before the clean-up
  std::int64_t bos_ = 0, eos_ = 0, pad_ = 0;
  Flavor flavor_ = Flavor::kFast;
};

}  // namespace binscan
