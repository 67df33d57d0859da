#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "analysis/compare.h"
#include "render/export.h"
#include "render/report.h"
#include "store/sqlite_store.h"
#include "support/test_support.h"
#include "util/error.h"
#include "util/text.h"

namespace binscan {
namespace {

ResultRecord result(const std::string& sha, const std::string& model, double score, int rank) {
  ResultRecord r;
  r.sha256 = sha;
  r.model = {model, "r1"};
  r.top_json = R"([{"label":"x","score":0.5,"class_id":0}])";
  r.top1_label = "x";
  r.top1_score = 0.5;
  r.bin_score = score;
  r.bin_rank = rank;
  r.known_ranks = 1000;
  r.bin_labels_json = R"(["bin"])";
  r.threshold = 0.1;
  r.verdict = score >= 0.1;
  return r;
}

// Six photos: both find a bin in 2, only A in 1, only B in 1, neither in 2; plus one photo only A
// classified and one that failed to decode.
void fill(Store& store) {
  const double a[] = {0.9, 0.5, 0.3, 0.01, 0.02, 0.0};
  const double b[] = {0.8, 0.2, 0.05, 0.4, 0.001, 0.09};
  CommitBatch batch;
  for (int i = 0; i < 6; ++i) {
    const std::string sha(64, static_cast<char>('a' + i));
    PhotoRecord p;
    p.sha256 = sha;
    p.path = "/photos/" + std::to_string(i) + ".jpg";
    p.size = 10;
    if (i % 2 == 0) {
      p.lat = 52.0 + i;
      p.lon = 4.0 + i;
      p.bearing = 90.5;
    }
    batch.photos.push_back(p);
    batch.results.push_back(result(sha, "org/model-a", a[i], i + 1));
    batch.results.push_back(result(sha, "/tmp/model-b", b[i], i + 2));
  }
  PhotoRecord extra;
  extra.sha256 = std::string(64, 'x');
  extra.path = "/photos/odd, \"name\".jpg";
  extra.size = 1;
  batch.photos.push_back(extra);
  batch.results.push_back(result(extra.sha256, "org/model-a", 0.5, 1));
  PhotoRecord bad;
  bad.sha256 = std::string(64, 'y');
  bad.path = "/photos/bad.jpg";
  bad.size = 1;
  bad.error = "truncated JPEG data";
  batch.photos.push_back(bad);
  store.commit(batch);
}

TEST(Compare, CountsAgreementAndKappa) {
  test::TempDir dir;
  SqliteStore store(dir / "s.db");
  fill(store);
  const auto c = compare_models(store, {});
  ASSERT_EQ(c.models.size(), 2u);
  EXPECT_EQ(c.models[0].id, "org/model-a");
  EXPECT_EQ(c.photos, 8);
  EXPECT_EQ(c.compared, 6);
  EXPECT_EQ(c.both, 2);
  EXPECT_EQ(c.only_a, 1);
  EXPECT_EQ(c.only_b, 1);
  EXPECT_EQ(c.neither, 2);
  EXPECT_EQ(c.incomplete, 1);
  EXPECT_EQ(c.failed, 1);
  // po = 4/6; pA = pB = 3/6; pe = 1/2; kappa = (2/3 - 1/2) / (1/2) = 1/3.
  EXPECT_NEAR(*c.agreement, 4.0 / 6, 1e-12);
  EXPECT_NEAR(*c.kappa, 1.0 / 3, 1e-12);
  // Disagreements first.
  EXPECT_EQ(c.rows.front().group, CompareGroup::kOnlyA);
  EXPECT_EQ(c.rows.back().group, CompareGroup::kFailed);
  // Statistics of A over its 7 results: found 4 (0.9, 0.5, 0.3, 0.5), median of sorted
  // {0, 0.01, 0.02, 0.3, 0.5, 0.5, 0.9} = 0.3, numpy-style 25% quantile = 0.015.
  EXPECT_EQ(c.stats[0].count, 7);
  EXPECT_EQ(c.stats[0].found, 4);
  EXPECT_NEAR(c.stats[0].quantiles[3], 0.3, 1e-12);
  EXPECT_NEAR(c.stats[0].quantiles[2], 0.015, 1e-12);
  EXPECT_EQ(c.stats[0].top1, 2);  // ranks 1 (photo 0) and the extra photo
  // A threshold override re-judges: at 0.35 A finds 3 (0.9, 0.5, 0.5), B finds 2 (0.8, 0.4).
  const auto t = compare_models(store, {"model-a", "/tmp/model-b"}, 0.35);
  EXPECT_EQ(t.both, 1);
  EXPECT_EQ(t.only_a, 1);
  EXPECT_EQ(t.only_b, 1);
  EXPECT_EQ(t.neither, 3);
  EXPECT_THROW(compare_models(store, {"nope"}), Error);
  // Swapping the order swaps only A and only B.
  const auto s = compare_models(store, {"model-b", "org/model-a"});
  EXPECT_EQ(s.only_a, c.only_b);
}

TEST(Compare, CsvAndJsonParseBackWithPython) {
  test::TempDir dir;
  SqliteStore store(dir / "s.db");
  fill(store);
  const auto c = compare_models(store, {});
  const auto csv = dir / "c.csv";
  std::ofstream(csv, std::ios::binary) << comparison_csv(c);
  const auto json = comparison_json(c);
  EXPECT_EQ(json["counts"]["only_b"], 1);
  EXPECT_EQ(json["photos"].size(), 8u);
  const auto r =
      test::run_command({test::kPython, "-c",
                         "import csv,sys\nrows=list(csv.DictReader(open(sys.argv[1],newline='')))\n"
                         "print(len(rows)); print(sum(r['group']=='only_a' for r in rows));"
                         "print([r['path'] for r in rows if 'odd' in r['path']][0])",
                         csv.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "8\n1\n/photos/odd, \"name\".jpg\n");
}

TEST(Export, CsvJsonlAndGeoJsonAgree) {
  test::TempDir dir;
  SqliteStore store(dir / "s.db");
  fill(store);
  const auto csv = dir / "e.csv";
  const auto jsonl = dir / "e.jsonl";
  const auto geo = dir / "e.geojson";
  std::ofstream(csv, std::ios::binary) << export_survey(store, ExportFormat::kCsv);
  std::ofstream(jsonl, std::ios::binary) << export_survey(store, ExportFormat::kJsonl);
  std::ofstream(geo, std::ios::binary) << export_survey(store, ExportFormat::kGeoJson);
  // Python reads all three: 6*2 + 1 + 1 rows; 3 photos with GPS -> 6 features at [lon, lat].
  const auto r = test::run_command({test::kPython, "-c",
                                    R"(import csv, json, sys
rows = list(csv.DictReader(open(sys.argv[1], newline='')))
lines = [json.loads(l) for l in open(sys.argv[2])]
geo = json.load(open(sys.argv[3]))
assert list(rows[0].keys())[:12] == 'path,sha256,model,top1_label,top1_score,bin_score,bin_rank,verdict,lat,lon,bearing,taken_at'.split(','), rows[0].keys()
assert len(rows) == len(lines) == 14, (len(rows), len(lines))
for r, l in zip(rows, lines):
    assert r['path'] == l['path'] and r['sha256'] == l['sha256']
    assert (r['bin_score'] == '') == (l['bin_score'] is None)
    if l['bin_score'] is not None: assert float(r['bin_score']) == l['bin_score']
assert geo['type'] == 'FeatureCollection' and len(geo['features']) == 6
for f in geo['features']:
    lon, lat = f['geometry']['coordinates']
    assert lon == f['properties']['lon'] and lat == f['properties']['lat']
    assert abs(lat - lon - 48.0) < 1e-9   # lat = 52 + i, lon = 4 + i
bad = [l for l in lines if l['error']]
assert len(bad) == 1 and bad[0]['model'] is None and bad[0]['path'] == '/photos/bad.jpg'
print('ok'))",
                                    csv.string(), jsonl.string(), geo.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "ok\n");
}

TEST(Report, SelfContainedWithCountsAndGroupsInOrder) {
  test::TempDir dir;
  SqliteStore store(dir / "s.db");
  fill(store);
  const auto c = compare_models(store, {});
  ReportOptions options;
  int thumbs = 0;
  options.thumbnail = [&](const PhotoRecord&) {
    ++thumbs;
    return std::optional<std::vector<std::uint8_t>>(std::vector<std::uint8_t>{0xff, 0xd8, 0xff});
  };
  const auto html = render_html_report(c, options);
  EXPECT_EQ(thumbs, 8);
  EXPECT_NE(html.find("id=\"count-only_a\" data-count=\"1\""), std::string::npos);
  EXPECT_NE(html.find("id=\"count-neither\" data-count=\"2\""), std::string::npos);
  EXPECT_NE(html.find("data:image/jpeg;base64,/9j/"), std::string::npos);
  // No external resources: nothing fetched from anywhere.
  EXPECT_EQ(html.find("http://"), std::string::npos);
  EXPECT_EQ(html.find("https://"), std::string::npos);
  EXPECT_EQ(html.find("src=\"//"), std::string::npos);
  // Groups: only A, only B, neither before both.
  const auto pa = html.find("id=\"group-only_a\"");
  const auto pb = html.find("id=\"group-only_b\"");
  const auto pn = html.find("id=\"group-neither\"");
  const auto pboth = html.find("id=\"group-both\"");
  EXPECT_LT(pa, pb);
  EXPECT_LT(pb, pn);
  EXPECT_LT(pn, pboth);
  // Paths are escaped.
  EXPECT_NE(html.find("odd, &quot;name&quot;.jpg"), std::string::npos);
}

TEST(Report, Base64MatchesPython) {
  std::vector<std::uint8_t> bytes;
  for (int i = 0; i < 257; ++i) bytes.push_back(static_cast<std::uint8_t>(i * 7));
  for (std::size_t n : {0u, 1u, 2u, 3u, 4u, 257u}) {
    const auto r =
        test::run_command({test::kPython, "-c",
                           "import base64;print(base64.b64encode(bytes((i*7)%256 for i in range(" +
                               std::to_string(n) + "))).decode())"});
    EXPECT_EQ(base64_encode(std::span(bytes.data(), n)) + "\n", r.out);
  }
}

}  // namespace
}  // namespace binscan
