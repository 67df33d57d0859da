// A small hand-written EXIF (TIFF IFD) reader.
//
// Why not libexif: we need a dozen tags, and the one that changes pixels (Orientation) must be
// read exactly as Pillow 9.4 reads it (TiffImagePlugin.ImageFileDirectory_v2.load), including its
// behaviour on broken data: entries before a broken one are kept, reading of an IFD stops at the
// first entry whose value lies outside the block, entries of unknown type are skipped, a BYTE
// Orientation is not an orientation. libexif has its own, different recovery rules.
// The reader is bounds-checked on every access, never allocates more than the input size, follows
// only the two sub-IFDs we need (no recursion, so offset loops cannot hang it) and is fuzzed
// (fuzz/fuzz_exif.cpp).
#include "image/exif.h"

#include <cmath>
#include <cstring>
#include <optional>
#include <string_view>

#include "image/codecs.h"

namespace binscan {
namespace {

constexpr std::uint16_t kTagMake = 0x010F;
constexpr std::uint16_t kTagModel = 0x0110;
constexpr std::uint16_t kTagOrientation = 0x0112;
constexpr std::uint16_t kTagExifIfd = 0x8769;
constexpr std::uint16_t kTagGpsIfd = 0x8825;
constexpr std::uint16_t kTagDateTimeOriginal = 0x9003;
constexpr std::uint16_t kTagFocal35 = 0xA405;
constexpr std::uint16_t kGpsLatRef = 1, kGpsLat = 2, kGpsLonRef = 3, kGpsLon = 4;
constexpr std::uint16_t kGpsAltRef = 5, kGpsAlt = 6, kGpsTime = 7;
constexpr std::uint16_t kGpsDirRef = 16, kGpsDir = 17, kGpsDate = 29;

// TIFF field types -> bytes per value (0: a type Pillow does not know, entry skipped).
std::size_t unit_size(std::uint16_t type) {
  switch (type) {
    case 1:
    case 2:
    case 6:
    case 7:
      return 1;  // BYTE ASCII SBYTE UNDEFINED
    case 3:
    case 8:
      return 2;  // SHORT SSHORT
    case 4:
    case 9:
    case 11:
    case 13:
      return 4;  // LONG SLONG FLOAT IFD
    case 5:
    case 10:
    case 12:
    case 16:
      return 8;  // RATIONAL SRATIONAL DOUBLE LONG8
    default:
      return 0;
  }
}

struct Entry {
  std::uint16_t tag = 0;
  std::uint16_t type = 0;
  std::uint32_t count = 0;
  std::span<const std::uint8_t> value;  // count * unit_size bytes, inside the block
};

class Reader {
 public:
  Reader(std::span<const std::uint8_t> data, std::vector<std::string>* warnings)
      : data_(data), warnings_(warnings) {}

  bool header(std::uint32_t* ifd0) {
    if (data_.size() < 8) return warn("block shorter than a TIFF header"), false;
    if (std::memcmp(data_.data(), "II", 2) == 0) {
      little_ = true;
    } else if (std::memcmp(data_.data(), "MM", 2) == 0) {
      little_ = false;
    } else {
      return warn("not a TIFF header"), false;
    }
    // Pillow accepts 42 in either byte order ("II*\0", "II\0*", "MM\0*", "MM*\0").
    const bool magic = (data_[2] == 42 && data_[3] == 0) || (data_[2] == 0 && data_[3] == 42);
    if (!magic) return warn("not a TIFF header"), false;
    *ifd0 = u32(data_.data() + 4);
    return true;
  }

  // One IFD, as ImageFileDirectory_v2.load reads it. Later duplicates override earlier ones.
  std::vector<Entry> ifd(std::uint32_t offset, const char* what) {
    std::vector<Entry> entries;
    if (offset > data_.size() || data_.size() - offset < 2) {
      warn(std::string(what) + " offset out of range");
      return entries;
    }
    const std::uint16_t n = u16(data_.data() + offset);
    std::size_t pos = std::size_t{offset} + 2;
    for (std::uint16_t i = 0; i < n; ++i, pos += 12) {
      if (data_.size() - pos < 12) {
        warn(std::string(what) + " truncated");
        break;
      }
      const std::uint8_t* e = data_.data() + pos;
      Entry entry{u16(e), u16(e + 2), u32(e + 4), {}};
      const std::size_t unit = unit_size(entry.type);
      if (unit == 0) continue;
      const std::uint64_t size = std::uint64_t{entry.count} * unit;
      if (size == 0) continue;
      if (size <= 4) {
        entry.value = std::span<const std::uint8_t>(e + 8, static_cast<std::size_t>(size));
      } else {
        const std::uint32_t at = u32(e + 8);
        if (at > data_.size() || data_.size() - at < size) {
          warn(std::string(what) + " entry points outside the EXIF block");
          break;  // Pillow stops reading this IFD here
        }
        entry.value = data_.subspan(at, static_cast<std::size_t>(size));
      }
      entries.push_back(entry);
    }
    return entries;
  }

  std::uint16_t u16(const std::uint8_t* p) const {
    return little_ ? static_cast<std::uint16_t>(p[0] | (p[1] << 8))
                   : static_cast<std::uint16_t>((p[0] << 8) | p[1]);
  }
  std::uint32_t u32(const std::uint8_t* p) const {
    return little_ ? (std::uint32_t{p[0]} | (std::uint32_t{p[1]} << 8) |
                      (std::uint32_t{p[2]} << 16) | (std::uint32_t{p[3]} << 24))
                   : ((std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) |
                      (std::uint32_t{p[2]} << 8) | std::uint32_t{p[3]});
  }

  // The i-th value of an integer-typed entry (Pillow's int types; BYTE and UNDEFINED are
  // bytes objects in Pillow and deliberately not integers here).
  std::optional<std::int64_t> integer(const Entry& e, std::uint32_t i = 0) const {
    if (i >= e.count) return std::nullopt;
    const std::uint8_t* p = e.value.data() + i * unit_size(e.type);
    switch (e.type) {
      case 3:
        return u16(p);
      case 4:
      case 13:
        return u32(p);
      case 6:
        return static_cast<std::int8_t>(p[0]);
      case 8:
        return static_cast<std::int16_t>(u16(p));
      case 9:
        return static_cast<std::int32_t>(u32(p));
      default:
        return std::nullopt;
    }
  }

  // The i-th value as a real number (rationals as num/den like float(IFDRational)); nullopt for
  // a zero denominator.
  std::optional<double> real(const Entry& e, std::uint32_t i = 0) const {
    if (i >= e.count) return std::nullopt;
    if (e.type == 5 || e.type == 10) {
      const std::uint8_t* p = e.value.data() + i * 8;
      const std::uint32_t num = u32(p), den = u32(p + 4);
      if (den == 0) return std::nullopt;
      if (e.type == 5) return static_cast<double>(num) / static_cast<double>(den);
      return static_cast<double>(static_cast<std::int32_t>(num)) /
             static_cast<double>(static_cast<std::int32_t>(den));
    }
    if (auto v = integer(e, i)) return static_cast<double>(*v);
    return std::nullopt;
  }

  bool warn(const std::string& what) {
    if (warnings_ != nullptr && warned_ < 4) {
      warnings_->push_back("ignored malformed EXIF: " + what);
      ++warned_;
    }
    return false;
  }

 private:
  std::span<const std::uint8_t> data_;
  std::vector<std::string>* warnings_;
  bool little_ = true;
  int warned_ = 0;
};

const Entry* find(const std::vector<Entry>& entries, std::uint16_t tag) {
  for (auto it = entries.rbegin(); it != entries.rend(); ++it) {
    if (it->tag == tag) return &*it;
  }
  return nullptr;
}

// ASCII value up to its first NUL, trailing blanks removed, bytes >= 0x80 read as Latin-1
// (as Pillow decodes) and control characters dropped so one-line output stays one line.
std::optional<std::string> text(const Entry* e) {
  if (e == nullptr || (e->type != 2 && e->type != 7)) return std::nullopt;
  std::string out;
  for (std::uint8_t c : e->value) {
    if (c == 0) break;
    if (c < 0x20 || c == 0x7F) continue;
    if (c < 0x80) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back(static_cast<char>(0xC0 | (c >> 6)));
      out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    }
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  if (out.empty()) return std::nullopt;
  return out;
}

bool digits(std::string_view s, std::initializer_list<std::size_t> at) {
  for (std::size_t i : at) {
    if (i >= s.size() || s[i] < '0' || s[i] > '9') return false;
  }
  return true;
}

// "YYYY:MM:DD HH:MM:SS" -> "YYYY-MM-DDTHH:MM:SS"; nullopt for blanks and zero dates.
std::optional<std::string> exif_datetime(const std::string& s) {
  if (s.size() < 19 || !digits(s, {0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18})) {
    return std::nullopt;
  }
  if (s.compare(0, 4, "0000") == 0 || s.compare(5, 2, "00") == 0 || s.compare(8, 2, "00") == 0) {
    return std::nullopt;
  }
  return s.substr(0, 4) + "-" + s.substr(5, 2) + "-" + s.substr(8, 2) + "T" + s.substr(11, 2) +
         ":" + s.substr(14, 2) + ":" + s.substr(17, 2);
}

std::optional<double> dms(const Reader& r, const Entry* e) {
  if (e == nullptr || e->count == 0) return std::nullopt;
  // d + m/60 + s/3600, in this order, as the usual Python conversion of Pillow's rationals.
  double deg = 0;
  const double scale[3] = {1.0, 60.0, 3600.0};
  for (std::uint32_t i = 0; i < 3 && i < e->count; ++i) {
    const auto v = r.real(*e, i);
    if (!v) return std::nullopt;
    deg = i == 0 ? *v : deg + *v / scale[i];
  }
  return deg;
}

char ref_char(const Entry* e) {
  if (e == nullptr || e->value.empty()) return 0;
  return static_cast<char>(e->value[0]);
}

void read_gps(Reader& r, const std::vector<Entry>& gps, Exif& exif) {
  const auto lat = dms(r, find(gps, kGpsLat));
  const auto lon = dms(r, find(gps, kGpsLon));
  if (lat && lon) {
    if (std::isfinite(*lat) && std::isfinite(*lon) && std::fabs(*lat) <= 90 &&
        std::fabs(*lon) <= 180) {
      GpsPosition pos;
      pos.latitude = ref_char(find(gps, kGpsLatRef)) == 'S' ? -*lat : *lat;
      pos.longitude = ref_char(find(gps, kGpsLonRef)) == 'W' ? -*lon : *lon;
      if (const Entry* alt = find(gps, kGpsAlt)) {
        if (auto a = r.real(*alt); a && std::isfinite(*a)) {
          const Entry* alt_ref = find(gps, kGpsAltRef);
          const bool below =
              alt_ref != nullptr && !alt_ref->value.empty() && alt_ref->value[0] == 1;
          pos.altitude_m = below ? -*a : *a;
        }
      }
      exif.gps = pos;
    } else {
      r.warn("GPS position out of range");
    }
  } else if (find(gps, kGpsLat) != nullptr || find(gps, kGpsLon) != nullptr) {
    r.warn("unreadable GPS position");
  }

  if (const Entry* dir = find(gps, kGpsDir)) {
    const auto d = r.real(*dir);
    if (d && std::isfinite(*d) && *d >= 0 && *d <= 360) {
      exif.bearing_deg = *d == 360 ? 0.0 : *d;
      const char ref = ref_char(find(gps, kGpsDirRef));
      if (ref == 'T' || ref == 'M') exif.bearing_ref = ref;
    } else {
      r.warn("GPS image direction out of range");
    }
  }

  const auto date = text(find(gps, kGpsDate));
  const Entry* time = find(gps, kGpsTime);
  if (date && time != nullptr && time->count >= 3) {
    const auto h = r.real(*time, 0), m = r.real(*time, 1), s = r.real(*time, 2);
    const bool date_ok = date->size() >= 10 && digits(*date, {0, 1, 2, 3, 5, 6, 8, 9});
    if (date_ok && h && m && s && *h >= 0 && *h < 24 && *m >= 0 && *m < 60 && *s >= 0 && *s < 61) {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.4s-%.2s-%.2sT%02d:%02d:%02dZ", date->c_str(),
                    date->c_str() + 5, date->c_str() + 8, static_cast<int>(*h),
                    static_cast<int>(*m), static_cast<int>(*s));
      exif.gps_time_utc = buf;
    } else {
      r.warn("invalid GPS date/time");
    }
  }
}

// The offset of the Exif or GPS sub-IFD; nullopt (with a warning) when it points back at an IFD
// already read, so a crafted loop costs nothing.
std::optional<std::uint32_t> sub_ifd_offset(Reader& r, const std::vector<Entry>& ifd0,
                                            std::uint16_t tag,
                                            std::vector<std::uint32_t>& visited) {
  const Entry* e = find(ifd0, tag);
  if (e == nullptr || e->count != 1) return std::nullopt;
  const auto v = r.integer(*e);
  if (!v || *v < 0) return std::nullopt;
  const auto offset = static_cast<std::uint32_t>(*v);
  for (std::uint32_t seen : visited) {
    if (seen == offset) {
      r.warn("IFD loop");
      return std::nullopt;
    }
  }
  visited.push_back(offset);
  return offset;
}

}  // namespace

namespace detail {

Exif parse_exif_checked(std::span<const std::uint8_t> tiff, std::vector<std::string>* warnings,
                        bool* has_orientation) {
  Exif exif;
  if (has_orientation != nullptr) *has_orientation = false;
  if (tiff.size() >= 6 && std::memcmp(tiff.data(), "Exif\0\0", 6) == 0) tiff = tiff.subspan(6);
  if (tiff.empty()) return exif;
  Reader r(tiff, warnings);
  std::uint32_t ifd0_offset = 0;
  if (!r.header(&ifd0_offset)) return exif;
  const std::vector<Entry> ifd0 = r.ifd(ifd0_offset, "IFD0");
  std::vector<std::uint32_t> visited{ifd0_offset};

  if (const Entry* o = find(ifd0, kTagOrientation)) {
    if (has_orientation != nullptr) *has_orientation = true;
    // Pillow: exif.get(0x0112) must be an int 1..8 (a BYTE entry is a bytes object, not an
    // int); Orientation is declared single-valued, so of a multi-valued entry the first counts.
    const auto v = r.integer(*o);
    if (v && *v >= 1 && *v <= 8) {
      exif.orientation = static_cast<int>(*v);
    } else {
      r.warn("invalid Orientation");
    }
  }
  exif.make = text(find(ifd0, kTagMake));
  exif.model = text(find(ifd0, kTagModel));

  if (const auto off = sub_ifd_offset(r, ifd0, kTagExifIfd, visited)) {
    const std::vector<Entry> sub = r.ifd(*off, "Exif IFD");
    if (const auto t = text(find(sub, kTagDateTimeOriginal))) exif.taken_at = exif_datetime(*t);
    if (const Entry* f = find(sub, kTagFocal35)) {
      if (const auto v = r.integer(*f); v && *v > 0 && *v < 100000) {
        exif.focal_length_35mm = static_cast<int>(*v);
      }
    }
  }
  if (const auto off = sub_ifd_offset(r, ifd0, kTagGpsIfd, visited)) {
    read_gps(r, r.ifd(*off, "GPS IFD"), exif);
  }
  return exif;
}

}  // namespace detail

Exif parse_exif(std::span<const std::uint8_t> tiff, std::vector<std::string>* warnings) {
  return detail::parse_exif_checked(tiff, warnings, nullptr);
}

}  // namespace binscan
