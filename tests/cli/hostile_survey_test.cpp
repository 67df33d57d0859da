// Issue 10 acceptance: a survey with hostile values in every text column (a hand-edited or
// merged-from-elsewhere database) renders a report, a map and every export that are valid and
// inert: pages run no foreign script (checked in Chromium when installed, and always with a
// parser), every JSON parses, no CSV cell starts a formula, nothing escapes to the terminal.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "store/sqlite_store.h"
#include "support/fake_hub.h"
#include "support/sql_helpers.h"
#include "support/test_support.h"
#include "util/escape.h"

namespace binscan {
namespace {

namespace fs = std::filesystem;

// Each payload would act if written raw: run script, add an element, start a formula, drive the
// terminal, or break UTF-8 (and with it every JSON writer).
const std::string kPwn = "document.body.setAttribute('data-pwned','1')";
const std::string kScript = "\"'><script>" + kPwn + "</script>";
const std::string kImg = "<img src=x onerror=\"" + kPwn + "\">";
const std::string kSvg = "</title><svg onload=\"" + kPwn + "\"/>";
const std::string kFormula = "=HYPERLINK(\"http://evil.example\",\"x\")";
const std::string kTerm = "\x1b]0;owned\x07\x1b[2J";
const std::string kBad = "\xff\xfe\xc3(";

std::string hostile(int i) {
  const std::string parts[] = {kScript, kImg, kSvg, kFormula, kTerm, kBad};
  // Every value starts with a different payload and carries all of them.
  std::string s = parts[i % 6];
  for (const auto& p : parts) s += p;
  return s;
}

std::string read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void make_survey(const fs::path& db) {
  SqliteStore store(db);
  CommitBatch batch;
  const std::string model_a = "/models/" + hostile(0), model_b = "org/" + hostile(1);
  for (int i = 0; i < 4; ++i) {
    PhotoRecord p;
    p.sha256 = hostile(i) + std::to_string(i);  // the original attack: markup in photos.sha256
    p.path = "/photos/" + hostile(i + 1) + ".jpg";
    p.size = 10;
    p.format = hostile(i + 2);
    p.taken_at = hostile(i + 3);
    p.gps_time = hostile(i + 4);
    p.lat = 52.37 + 0.0001 * i;
    p.lon = -4.89 - 0.0001 * i;  // negative: must stay a number in CSV
    p.bearing = 90.0 * i;
    p.bearing_ref = hostile(i + 5);
    p.make = kFormula;
    p.camera_model = "-" + hostile(i);
    if (i == 3) p.error = hostile(i);
    batch.photos.push_back(p);
    batch.paths.push_back({p.path, p.sha256, 10, 1});
    for (const auto& model : {model_a, model_b}) {
      ResultRecord r;
      r.sha256 = p.sha256;
      r.model = {model, hostile(2)};
      nlohmann::json top = nlohmann::json::array();
      top.push_back({{"label", hostile(i)}, {"score", 0.9}, {"class_id", 0}});
      top.push_back({{"label", "+" + hostile(i + 1)}, {"score", 0.05}, {"class_id", 1}});
      r.top_json = json_text(top);
      r.top1_label = "@" + hostile(i);
      r.top1_score = 0.9;
      r.bin_score = 0.9;
      r.bin_rank = 1;
      r.known_ranks = 2;
      r.bin_labels_json = json_text(nlohmann::json::array({hostile(i)}));
      r.threshold = 0.5;
      r.verdict = true;
      batch.results.push_back(r);
    }
  }
  store.commit(batch);
  store.end_run(store.begin_run(json_text(nlohmann::json{{"a", hostile(2)}})), hostile(3), "{}");
}

// RFC 4180 cells of a CSV text.
std::vector<std::string> csv_cells(const std::string& text) {
  std::vector<std::string> cells;
  std::string cell;
  bool quoted = false, in_quotes = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_quotes) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
        cell += '"';
        ++i;
      } else if (c == '"') {
        in_quotes = false;
      } else {
        cell += c;
      }
    } else if (c == '"') {
      in_quotes = quoted = true;
    } else if (c == ',' || c == '\n') {
      cells.push_back(cell);
      cell.clear();
      quoted = false;
    } else if (c != '\r') {
      cell += c;
    }
  }
  if (!cell.empty()) cells.push_back(cell);
  return cells;
}

void expect_inert_csv(const fs::path& file) {
  const std::string text = read(file);
  EXPECT_EQ(valid_utf8(text), text) << file;
  EXPECT_EQ(text.find('\x1b'), std::string::npos) << file;
  int numbers = 0;
  for (const auto& cell : csv_cells(text)) {
    if (cell.empty()) continue;
    if (is_plain_number(cell)) {
      ++numbers;
      continue;
    }
    EXPECT_EQ(std::string("=+-@\t\r").find(cell.front()), std::string::npos)
        << file.filename() << ": cell starts a formula: " << cell.substr(0, 40);
  }
  EXPECT_GT(numbers, 0) << file;
}

void expect_json(const fs::path& file, bool lines) {
  const std::string text = read(file);
  EXPECT_EQ(valid_utf8(text), text) << file;
  if (!lines) {
    EXPECT_TRUE(nlohmann::json::accept(text)) << file;
    return;
  }
  std::istringstream in(text);
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    EXPECT_TRUE(nlohmann::json::accept(line)) << file << ": " << line.substr(0, 60);
    ++n;
  }
  EXPECT_GT(n, 0);
}

void expect_inert_html(const fs::path& page, const fs::path& work) {
  const auto check = test::run_python(
      "inert_html_check.py", {page.string(), "<script>" + kPwn, "onerror=\"", "onload=\""});
  EXPECT_EQ(check.out, "ok\n") << page.filename() << "\n" << check.out;
  const fs::path chromium = "/usr/bin/chromium";
  if (!fs::exists(chromium)) return;  // the parser check above still ran
  const auto dom = test::run_command(
      {chromium.string(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
       "--no-first-run", "--disable-background-networking", "--disable-component-update",
       "--disable-sync",
       // The map asks for OpenStreetMap tiles: no host resolves, so no test touches the internet.
       "--host-resolver-rules=MAP * ~NOTFOUND", "--user-data-dir=" + (work / "profile").string(),
       "--enable-logging=stderr", "--v=0", "--virtual-time-budget=2000", "--dump-dom",
       "file://" + page.string()});
  ASSERT_EQ(dom.exit_code, 0) << dom.err;
  EXPECT_EQ(dom.err.find(":CONSOLE"), std::string::npos) << page.filename() << "\n" << dom.err;
  EXPECT_NE(dom.out.find("data-ready=\"1\""), std::string::npos) << "binscan's script did not run";
  EXPECT_EQ(dom.out.find("data-pwned=\"1\""), std::string::npos) << "a hostile script ran";
  EXPECT_EQ(dom.out.find("<img src=\"x\""), std::string::npos) << "a hostile element was made";
}

TEST(HostileSurvey, RendersValidInertReportMapAndExports) {
  test::TempDir dir;
  const auto db = dir / "hostile.db";
  make_survey(db);
  const std::string bin = test::binscan_binary().string();

  const auto compare =
      test::run_command({bin, "compare", "--db", db.string(), "--html", (dir / "r.html").string(),
                         "--csv", (dir / "c.csv").string(), "--json", (dir / "c.json").string()});
  ASSERT_EQ(compare.exit_code, 0) << compare.err;
  const auto locate = test::run_command(
      {bin, "locate", "--db", db.string(), "--html", (dir / "map.html").string(), "--geojson",
       (dir / "l.geojson").string(), "--csv", (dir / "l.csv").string()});
  ASSERT_EQ(locate.exit_code, 0) << locate.err;
  for (const char* f : {"csv", "jsonl", "geojson"}) {
    const auto r = test::run_command({bin, "export", "--db", db.string(), "--format", f, "--output",
                                      (dir / (std::string("e.") + f)).string()});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  // Nothing reaches the terminal raw.
  for (const auto* r : {&compare, &locate}) {
    EXPECT_EQ(r->out.find('\x1b'), std::string::npos) << r->out;
    EXPECT_EQ(r->err.find('\x1b'), std::string::npos) << r->err;
  }

  expect_json(dir / "c.json", false);
  expect_json(dir / "l.geojson", false);
  expect_json(dir / "e.geojson", false);
  expect_json(dir / "e.jsonl", true);
  expect_inert_csv(dir / "c.csv");
  expect_inert_csv(dir / "l.csv");
  expect_inert_csv(dir / "e.csv");
  expect_inert_html(dir / "r.html", dir.path());
  expect_inert_html(dir / "map.html", dir.path());

  // The export keeps negative longitudes as numbers.
  EXPECT_NE(read(dir / "e.csv").find(",-4.89,"), std::string::npos);
}

// One non-UTF-8 name used to make every JSON writer exit 70, and `compare --html --json` wrote
// no HTML either.
TEST(HostileSurvey, ANonUtf8NameKeepsEveryOutputValid) {
  test::TempDir dir;
  const auto db = dir / "s.db";
  {
    SqliteStore store(db);
    CommitBatch batch;
    PhotoRecord p;
    p.sha256 = std::string(64, 'c');
    p.path = "/photos/caf\xe9.jpg";  // Latin-1, as an old camera card names it
    p.lat = 1;
    p.lon = 2;
    p.bearing = 10;
    batch.photos = {p};
    ResultRecord r;
    r.sha256 = p.sha256;
    r.model = {"org/vit", "main"};
    r.top_json = R"([{"label":"bin","score":0.9,"class_id":0}])";
    r.top1_label = "bin";
    r.bin_labels_json = R"(["bin"])";
    r.bin_score = 0.9;
    r.threshold = 0.5;
    r.verdict = true;
    batch.results = {r};
    store.commit(batch);
  }
  const std::string bin = test::binscan_binary().string();
  const auto both =
      test::run_command({bin, "compare", "--db", db.string(), "--html", (dir / "r.html").string(),
                         "--json", (dir / "c.json").string()});
  ASSERT_EQ(both.exit_code, 0) << both.err;
  EXPECT_TRUE(fs::exists(dir / "r.html"));
  expect_json(dir / "c.json", false);
  EXPECT_NE(read(dir / "c.json").find("caf\xEF\xBF\xBD.jpg"), std::string::npos);
  const auto l = test::run_command(
      {bin, "locate", "--db", db.string(), "--geojson", (dir / "l.geojson").string()});
  ASSERT_EQ(l.exit_code, 0) << l.err;
  expect_json(dir / "l.geojson", false);
  for (const char* f : {"jsonl", "geojson"}) {
    const auto r = test::run_command({bin, "export", "--db", db.string(), "--format", f});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(valid_utf8(r.out), r.out);
  }
  // The survey keeps the bytes.
  SqliteStore read_back(db, Store::Mode::kReadOnly);
  EXPECT_EQ(read_back.photos().at(0).path, "/photos/caf\xe9.jpg");
}

}  // namespace
}  // namespace binscan

namespace binscan {
namespace {

// `scan $'dir\xff'` failed before any work (the run's arguments could not be written as JSON);
// the name is now stored as its bytes and every output written from it stays valid.
TEST(HostileSurvey, ScanOfANonUtf8FolderWorksAndKeepsTheBytes) {
  test::TempDir dir;
  const fs::path in = dir / "dir\xff";
  fs::create_directories(in);
  for (const auto& p : test::all_photos()) {
    if (fs::file_size(p) < 200000) {
      fs::copy_file(p, in / "caf\xe9.jpg");
      break;
    }
  }
  test::FakeInference api;
  api.script({{200, test::FakeInference::predictions_json({{"\x1b[2Jtrash bin", 0.9}})}});
  const auto db = dir / "s.db";
  const auto r = test::run_command(
      {test::binscan_binary().string(), "scan", in.string(), "--remote", "--model", "org/model",
       "--endpoint", api.url(), "--db", db.string(), "--quiet"},
      {"HF_TOKEN=hf_test_token_123", "HF_HUB_OFFLINE="});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string hex = test::sql_rows(db, "SELECT hex(path) FROM photos").at(0);
  EXPECT_NE(hex.find("FF2F636166E92E6A7067"), std::string::npos) << hex;  // "\xff/caf\xe9.jpg"
  const auto e = test::run_command(
      {test::binscan_binary().string(), "export", "--db", db.string(), "--format", "jsonl"});
  ASSERT_EQ(e.exit_code, 0) << e.err;
  EXPECT_TRUE(nlohmann::json::accept(e.out.substr(0, e.out.find('\n'))));
  const auto c = test::run_command(
      {test::binscan_binary().string(), "compare", "--db", db.string(), "--no-thumbnails"});
  ASSERT_EQ(c.exit_code, 0) << c.err;
  EXPECT_EQ(c.out.find('\x1b'), std::string::npos) << c.out;
}

}  // namespace
}  // namespace binscan
