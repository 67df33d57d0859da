#include "analysis/occlusion.h"

#include <algorithm>
#include <cmath>

#include "classify/postprocess.h"
#include "pipeline/photo.h"
#include "preprocess/resample.h"
#include "util/error.h"
#include "util/json.h"
#include "util/tensor.h"

namespace binscan {
namespace {

// Positions from 0 in steps of `stride`, and a last one flush with the edge so every pixel is
// covered at least once.
std::vector<int> positions(int size, int patch, int stride) {
  std::vector<int> out;
  if (patch >= size) return {0};
  for (int p = 0; p + patch <= size; p += stride) out.push_back(p);
  if (out.back() + patch < size) out.push_back(size - patch);
  return out;
}

}  // namespace

ViewInPhoto view_in_photo(const ImageProcessor& processor, int photo_width, int photo_height) {
  ViewInPhoto v;
  v.photo_width = photo_width;
  v.photo_height = photo_height;
  const auto [out_h, out_w] = processor.output_size(photo_width, photo_height);
  v.view_width = out_w;
  v.view_height = out_h;
  const ProcessorConfig& c = processor.config();
  int resized_w = photo_width, resized_h = photo_height;
  if (c.do_resize) {
    if (c.kind == ProcessorKind::kConvNext && c.shortest_edge < 384) {
      // Shortest edge to shortest_edge / crop_pct, then the centre crop (as transformers).
      const int target = static_cast<int>(c.shortest_edge / c.crop_pct);
      const bool portrait = photo_width <= photo_height;
      const int shorter = portrait ? photo_width : photo_height;
      const int longer = portrait ? photo_height : photo_width;
      const int new_long = static_cast<int>(static_cast<double>(target) * longer / shorter);
      resized_w = portrait ? target : new_long;
      resized_h = portrait ? new_long : target;
      v.offset_x = (resized_w - out_w) / 2;
      v.offset_y = (resized_h - out_h) / 2;
    } else {
      resized_w = out_w;
      resized_h = out_h;
    }
  }
  v.scale_x = static_cast<double>(photo_width) / resized_w;
  v.scale_y = static_cast<double>(photo_height) / resized_h;
  return v;
}

std::vector<float> OcclusionMap::heat() const {
  const auto w = static_cast<std::size_t>(view.view_width);
  const auto h = static_cast<std::size_t>(view.view_height);
  std::vector<double> sum(w * h, 0.0);
  std::vector<int> count(w * h, 0);
  for (std::size_t r = 0; r < ys.size(); ++r) {
    for (std::size_t c = 0; c < xs.size(); ++c) {
      const double d = drops[r * xs.size() + c];
      for (int y = ys[r]; y < std::min<int>(ys[r] + options.patch, static_cast<int>(h)); ++y) {
        for (int x = xs[c]; x < std::min<int>(xs[c] + options.patch, static_cast<int>(w)); ++x) {
          sum[static_cast<std::size_t>(y) * w + static_cast<std::size_t>(x)] += d;
          ++count[static_cast<std::size_t>(y) * w + static_cast<std::size_t>(x)];
        }
      }
    }
  }
  std::vector<float> out(w * h, 0.0f);
  for (std::size_t i = 0; i < out.size(); ++i) {
    if (count[i]) out[i] = static_cast<float>(sum[i] / count[i]);
  }
  return out;
}

OcclusionMap occlusion_map(LocalClassifier& model, const Image& photo, int label,
                           const OcclusionOptions& options) {
  if (options.patch < 1 || options.stride < 1 || options.batch < 1) {
    throw Error(ErrorKind::kConfig, "", "patch, stride and batch must be at least 1");
  }
  const ModelConfig& config = model.config();
  if (label < 0 || label >= config.num_labels()) {
    throw Error(ErrorKind::kConfig, "", "no class " + std::to_string(label) + " in this model");
  }
  OcclusionMap m;
  m.label = label;
  m.label_name = config.id2label[static_cast<std::size_t>(label)];
  m.options = options;
  m.view = view_in_photo(model.processor(), photo.width, photo.height);
  const Image view = model.processor().prepare(photo);
  const int w = view.width, h = view.height;
  m.view.view_width = w;
  m.view.view_height = h;
  const auto plane = static_cast<std::size_t>(w) * static_cast<std::size_t>(h);
  std::vector<float> base(3 * plane);
  model.processor().to_pixel_values(view, base.data());
  // The grey, as the processor turns RGB 128 into pixel values.
  Image grey_pixel(1, 1);
  grey_pixel.pixels = {128, 128, 128};
  float grey[3];
  model.processor().to_pixel_values(grey_pixel, grey);

  const ScoreFunction fn = score_function(config);
  const auto score_of = [&](const Tensor& logits, std::size_t row) {
    const auto n = static_cast<std::size_t>(config.num_labels());
    const auto scores = class_scores(std::span<const float>(logits.data).subspan(row * n, n), fn);
    return static_cast<double>(scores[static_cast<std::size_t>(label)]);
  };
  {
    Tensor one({1, 3, h, w});
    std::copy(base.begin(), base.end(), one.data.begin());
    m.base_score = score_of(model.forward(one), 0);
  }
  m.xs = positions(w, options.patch, options.stride);
  m.ys = positions(h, options.patch, options.stride);
  const std::size_t total = m.xs.size() * m.ys.size();
  m.drops.resize(total);
  for (std::size_t start = 0; start < total; start += static_cast<std::size_t>(options.batch)) {
    const std::size_t n = std::min(total - start, static_cast<std::size_t>(options.batch));
    Tensor batch({static_cast<std::int64_t>(n), 3, h, w});
    for (std::size_t k = 0; k < n; ++k) {
      const std::size_t at = start + k;
      const int x0 = m.xs[at % m.xs.size()], y0 = m.ys[at / m.xs.size()];
      float* dst = batch.data.data() + k * 3 * plane;
      std::copy(base.begin(), base.end(), dst);
      for (std::size_t c = 0; c < 3; ++c) {
        for (int y = y0; y < std::min(y0 + options.patch, h); ++y) {
          float* row = dst + c * plane + static_cast<std::size_t>(y) * static_cast<std::size_t>(w);
          std::fill(row + x0, row + std::min(x0 + options.patch, w), grey[c]);
        }
      }
    }
    const Tensor logits = model.forward(batch);
    for (std::size_t k = 0; k < n; ++k) m.drops[start + k] = m.base_score - score_of(logits, k);
  }
  const auto peak = std::max_element(m.drops.begin(), m.drops.end());
  const auto i = static_cast<std::size_t>(peak - m.drops.begin());
  m.peak_drop = *peak;
  m.peak_view_x = m.xs[i % m.xs.size()] + std::min(options.patch, w) / 2.0;
  m.peak_view_y = m.ys[i / m.xs.size()] + std::min(options.patch, h) / 2.0;
  std::tie(m.peak_photo_x, m.peak_photo_y) = m.view.to_photo(m.peak_view_x, m.peak_view_y);
  return m;
}

OcclusionMap occlusion_map(LocalClassifier& model, const Image& photo, const TileBox& region,
                           int label, const OcclusionOptions& options) {
  if (region.x < 0 || region.y < 0 || region.width < 1 || region.height < 1 ||
      region.x + region.width > photo.width || region.y + region.height > photo.height) {
    throw Error(ErrorKind::kConfig, "",
                "the region " + std::to_string(region.width) + "x" + std::to_string(region.height) +
                    " at (" + std::to_string(region.x) + ", " + std::to_string(region.y) +
                    ") is not inside the " + std::to_string(photo.width) + "x" +
                    std::to_string(photo.height) + " photo");
  }
  const bool whole = region.x == 0 && region.y == 0 && region.width == photo.width &&
                     region.height == photo.height;
  if (whole) return occlusion_map(model, photo, label, options);
  OcclusionMap m = occlusion_map(model, crop_image(photo, region), label, options);
  m.view.origin_x = region.x;
  m.view.origin_y = region.y;
  m.view.photo_width = photo.width;
  m.view.photo_height = photo.height;
  std::tie(m.peak_photo_x, m.peak_photo_y) = m.view.to_photo(m.peak_view_x, m.peak_view_y);
  return m;
}

namespace {
double round4(double v) { return std::round(v * 1e4) / 1e4; }
}  // namespace

std::string occlusion_to_json(const OcclusionMap& m, const TileBox& region) {
  nlohmann::json drops = nlohmann::json::array();
  for (std::size_t r = 0; r < m.ys.size(); ++r) {
    nlohmann::json row = nlohmann::json::array();
    for (std::size_t c = 0; c < m.xs.size(); ++c)
      row.push_back(round4(m.drops[r * m.xs.size() + c]));
    drops.push_back(std::move(row));
  }
  const nlohmann::json j{
      {"class_id", m.label},
      {"label", m.label_name},
      {"score", m.base_score},
      {"patch", m.options.patch},
      {"stride", m.options.stride},
      {"region", {region.x, region.y, region.width, region.height}},
      {"view",
       {{"width", m.view.view_width},
        {"height", m.view.view_height},
        {"scale_x", m.view.scale_x},
        {"scale_y", m.view.scale_y},
        {"offset_x", m.view.offset_x},
        {"offset_y", m.view.offset_y},
        {"photo_width", m.view.photo_width},
        {"photo_height", m.view.photo_height}}},
      {"xs", m.xs},
      {"ys", m.ys},
      {"drops", drops},
      {"peak", {{"drop", m.peak_drop}, {"x", m.peak_photo_x}, {"y", m.peak_photo_y}}}};
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::optional<StoredOcclusion> parse_occlusion(const std::string& text) {
  const nlohmann::json j = parse_stored_json(text);
  try {
    if (!j.is_object()) return std::nullopt;
    StoredOcclusion s;
    OcclusionMap& m = s.map;
    m.label = j.at("class_id").get<int>();
    m.label_name = j.at("label").get<std::string>();
    m.base_score = j.at("score").get<double>();
    m.options.patch = j.at("patch").get<int>();
    m.options.stride = j.at("stride").get<int>();
    const auto& r = j.at("region");
    s.region = {r.at(0).get<int>(), r.at(1).get<int>(), r.at(2).get<int>(), r.at(3).get<int>()};
    const auto& v = j.at("view");
    m.view.view_width = v.at("width").get<int>();
    m.view.view_height = v.at("height").get<int>();
    m.view.scale_x = v.at("scale_x").get<double>();
    m.view.scale_y = v.at("scale_y").get<double>();
    m.view.offset_x = v.at("offset_x").get<double>();
    m.view.offset_y = v.at("offset_y").get<double>();
    m.view.photo_width = v.at("photo_width").get<int>();
    m.view.photo_height = v.at("photo_height").get<int>();
    m.view.origin_x = s.region.x;
    m.view.origin_y = s.region.y;
    m.xs = j.at("xs").get<std::vector<int>>();
    m.ys = j.at("ys").get<std::vector<int>>();
    const auto& d = j.at("drops");
    if (d.size() != m.ys.size()) return std::nullopt;
    for (const auto& row : d) {
      if (row.size() != m.xs.size()) return std::nullopt;
      for (const auto& x : row) m.drops.push_back(x.get<double>());
    }
    const auto& p = j.at("peak");
    m.peak_drop = p.at("drop").get<double>();
    m.peak_photo_x = p.at("x").get<double>();
    m.peak_photo_y = p.at("y").get<double>();
    const bool sane = m.options.patch > 0 && m.view.view_width > 0 && m.view.view_height > 0 &&
                      m.view.scale_x > 0 && m.view.scale_y > 0 && m.view.photo_width > 0 &&
                      m.view.photo_height > 0 && s.region.width > 0 && s.region.height > 0 &&
                      std::isfinite(m.peak_photo_x) && std::isfinite(m.peak_photo_y);
    if (!sane) return std::nullopt;
    return s;
  } catch (const nlohmann::json::exception&) {
    return std::nullopt;
  }
}

Image occlusion_overlay(const Image& photo, const OcclusionMap& map, int max_side) {
  const double shrink =
      std::min(1.0, static_cast<double>(max_side) / std::max(photo.width, photo.height));
  const int ow = std::max(1, static_cast<int>(std::lround(photo.width * shrink)));
  const int oh = std::max(1, static_cast<int>(std::lround(photo.height * shrink)));
  Image out = resize_like_pillow(photo, ow, oh, Resample::kBilinear);
  const std::vector<float> heat = map.heat();
  const double top = std::max(map.peak_drop, 1e-12);
  const auto& v = map.view;
  for (int y = 0; y < oh; ++y) {
    for (int x = 0; x < ow; ++x) {
      const auto [vx, vy] = v.to_view((x + 0.5) / shrink, (y + 0.5) / shrink);
      std::uint8_t* px = out.row(y) + 3 * static_cast<std::size_t>(x);
      const int ix = static_cast<int>(std::floor(vx)), iy = static_cast<int>(std::floor(vy));
      if (ix < 0 || iy < 0 || ix >= v.view_width || iy >= v.view_height) {
        for (int c = 0; c < 3; ++c) px[c] = static_cast<std::uint8_t>(px[c] / 3);  // unseen
        continue;
      }
      const double a =
          0.7 * std::clamp(heat[static_cast<std::size_t>(iy) * v.view_width + ix] / top, 0.0, 1.0);
      px[0] = static_cast<std::uint8_t>(std::lround(px[0] * (1 - a) + 255 * a));
      px[1] = static_cast<std::uint8_t>(std::lround(px[1] * (1 - a)));
      px[2] = static_cast<std::uint8_t>(std::lround(px[2] * (1 - a)));
    }
  }
  // A ring around the peak.
  const double cx = map.peak_photo_x * shrink, cy = map.peak_photo_y * shrink;
  const double r = std::max(6.0, map.options.patch * v.scale_x * shrink / 2);
  for (int y = std::max(0, static_cast<int>(cy - r - 3));
       y < std::min(oh, static_cast<int>(cy + r + 3)); ++y) {
    for (int x = std::max(0, static_cast<int>(cx - r - 3));
         x < std::min(ow, static_cast<int>(cx + r + 3)); ++x) {
      const double d = std::hypot(x + 0.5 - cx, y + 0.5 - cy);
      if (std::fabs(d - r) <= 1.5) {
        std::uint8_t* px = out.row(y) + 3 * static_cast<std::size_t>(x);
        px[0] = 255;
        px[1] = 230;
        px[2] = 0;
      }
    }
  }
  return out;
}

}  // namespace binscan
