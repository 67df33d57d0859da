// EXIF metadata: what binscan needs from a photo besides its pixels.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace binscan {

struct GpsPosition {
  double latitude = 0;               // degrees, north positive
  double longitude = 0;              // degrees, east positive
  std::optional<double> altitude_m;  // metres above sea level (negative below)
};

struct Exif {
  int orientation = 1;  // 1..8 as in the TIFF spec; 1 when absent or invalid
  std::optional<GpsPosition> gps;
  std::optional<double> bearing_deg;        // GPSImgDirection, degrees [0, 360)
  std::optional<char> bearing_ref;          // 'T' true north, 'M' magnetic north
  std::optional<std::string> gps_time_utc;  // "YYYY-MM-DDTHH:MM:SSZ" from GPSDateStamp+TimeStamp
  std::optional<std::string> taken_at;      // DateTimeOriginal as "YYYY-MM-DDTHH:MM:SS" (local)
  std::optional<std::string> make;
  std::optional<std::string> model;
  std::optional<int> focal_length_35mm;  // FocalLengthIn35mmFilm
};

// Parses a TIFF-structured EXIF block (starting at the "II*\0"/"MM\0*" header, i.e. after the
// "Exif\0\0" prefix of a JPEG APP1 segment; a leading "Exif\0\0" is skipped, as Pillow does).
// Bounds-checked: malformed data never crashes; fields that cannot be read are left empty and a
// short note is appended to `warnings`.
Exif parse_exif(std::span<const std::uint8_t> tiff, std::vector<std::string>* warnings);

}  // namespace binscan
