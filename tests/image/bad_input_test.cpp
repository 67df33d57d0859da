// Bad input: every refusal is a binscan::Error of the right kind whose message names the file
// and the cause; Pillow refuses the same files (pil_images.py bad_input).
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <random>

#include "image/decode.h"
#include "pil_reference.h"
#include "support/test_support.h"
#include "util/error.h"

namespace binscan {
namespace {

// Runs `f` expecting an Error of `kind` whose one-line message contains `subject`.
template <typename F>
Error expect_error(F&& f, ErrorKind kind, const std::string& subject) {
  try {
    f();
  } catch (const Error& e) {
    EXPECT_EQ(static_cast<int>(e.kind()), static_cast<int>(kind)) << e.what();
    EXPECT_EQ(e.subject(), subject);
    EXPECT_NE(std::string(e.what()).find(subject), std::string::npos) << e.what();
    EXPECT_FALSE(e.cause().empty());
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos);
    return e;
  }
  ADD_FAILURE() << "no error for " << subject;
  return Error(ErrorKind::kInternal, "", "");
}

TEST(BadInput, GeneratedBadFilesAreRefusedLikePillowRefusesThem) {
  test::TempDir dir;
  const auto refs = test::pil_generate(dir.path(), "bad_input");
  ASSERT_GE(refs.size(), 14u);
  for (const auto& ref : refs) {
    const std::string name = ref.path.filename().string();
    SCOPED_TRACE(name);
    EXPECT_FALSE(ref.ok) << "Pillow decoded it";
    const ErrorKind kind = name.starts_with("toolarge")      ? ErrorKind::kTooLarge
                           : name.starts_with("unsupported") ? ErrorKind::kUnsupported
                                                             : ErrorKind::kFormat;
    const Error e = expect_error([&] { load_image(ref.path); }, kind, ref.path.string());
    if (name.find("truncated_half") != std::string::npos ||
        name.find("truncated_progressive") != std::string::npos) {
      EXPECT_NE(e.cause().find("truncated"), std::string::npos) << e.cause();
    }
    if (name == "format_empty.jpg") {
      EXPECT_NE(e.cause().find("empty"), std::string::npos) << e.cause();
    }
    // What the headers already reveal is refused by probe_image too (info does not decode).
    if (kind != ErrorKind::kFormat || name.find("truncated_half") == std::string::npos) {
      if (name != "format_truncated_progressive.jpg" && name != "format_jpeg_garbage.jpg") {
        expect_error([&] { probe_image_file(ref.path); }, kind, ref.path.string());
      }
    }
  }
}

TEST(BadInput, PixelLimitIsCheckedBeforeDecoding) {
  test::TempDir dir;
  const auto refs = test::pil_generate(dir.path(), "sizes");
  const auto it = std::find_if(refs.begin(), refs.end(), [](const test::PilReference& r) {
    return r.path.filename() == "s17x5.png";
  });
  ASSERT_NE(it, refs.end());
  DecodeOptions options;
  options.max_pixels = 85;  // exactly 17 x 5: allowed, like Pillow's "> limit" test
  EXPECT_NO_THROW(load_image(it->path, options));
  options.max_pixels = 84;
  const Error e =
      expect_error([&] { load_image(it->path, options); }, ErrorKind::kTooLarge, it->path.string());
  EXPECT_NE(e.cause().find("17x5"), std::string::npos) << e.cause();
  EXPECT_EQ(kMaxImagePixels, 2 * 89478485);  // Pillow's DecompressionBombError threshold
}

TEST(BadInput, MissingDirectoryAndUnreadablePaths) {
  test::TempDir dir;
  const auto missing = dir / "no-such-photo.jpg";
  expect_error([&] { load_image(missing); }, ErrorKind::kIo, missing.string());
  expect_error([&] { load_image(dir.path()); }, ErrorKind::kIo, dir.path().string());
  expect_error([&] { probe_image_file(dir.path()); }, ErrorKind::kIo, dir.path().string());
  if (::geteuid() != 0) {  // root reads everything
    const auto locked = dir / "locked.jpg";
    std::ofstream(locked) << "x";
    std::filesystem::permissions(locked, std::filesystem::perms::none);
    expect_error([&] { load_image(locked); }, ErrorKind::kIo, locked.string());
  }
}

TEST(BadInput, RandomBytesAfterEachMagicNeverCrash) {
  // Valid magic numbers followed by noise go through each decoder's error paths; every outcome
  // must be an Error (or, rarely, a decoded image), never a crash (ASan run) or another exception.
  std::mt19937 rng(1234);
  const std::vector<std::vector<std::uint8_t>> magics = {
      {0xFF, 0xD8, 0xFF},
      {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'},
      {'R', 'I', 'F', 'F', 0x40, 0, 0, 0, 'W', 'E', 'B', 'P', 'V', 'P', '8', 'L'}};
  for (const auto& magic : magics) {
    for (int i = 0; i < 200; ++i) {
      std::vector<std::uint8_t> bytes = magic;
      const int n = static_cast<int>(rng() % 300);
      for (int k = 0; k < n; ++k) bytes.push_back(static_cast<std::uint8_t>(rng()));
      try {
        (void)decode_image(bytes, "noise");
      } catch (const Error& e) {
        EXPECT_EQ(e.subject(), "noise");
      }
    }
  }
}

}  // namespace
}  // namespace binscan
