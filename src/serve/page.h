// Part of the serve layer (see serve/api.h).
//
// The page `binscan serve` shows at GET /: drop or pick photos, and see for each one every
// loaded model's top-5 as bars side by side, its bin score and verdict, what the model sees (its
// resized and cropped input), and the photo's GPS position and bearing when EXIF has them. One
// self-contained HTML document: no CDN, no external request (it works offline), usable with the
// keyboard and a screen reader, laid out for phones too. Everything that comes from a photo or a
// model is inserted as text, never as markup.
#pragma once

#include <string>
#include <vector>

namespace binscan::serve {

struct PageInfo {
  struct Model {
    std::string name;        // as served (/models/{name})
    std::string revision;    // commit hash, or ""
    bool zero_shot = false;  // CLIP: the page asks for candidate labels
  };
  std::vector<Model> models;
  bool token_required = false;  // the page asks for the token and sends it as a Bearer header
  bool survey = false;          // links to /survey and /survey/map
  std::string survey_name;      // the database, shown with the links
};

std::string render_page(const PageInfo& info);

}  // namespace binscan::serve
