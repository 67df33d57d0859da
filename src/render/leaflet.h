// Leaflet's script and stylesheet (Debian's libjs-leaflet, BSD-2, (c) Vladimir Agafonkin and
// CloudMade), embedded at build time by cmake/embed_leaflet.cmake so the map page carries them:
// one file that works offline. Their image references (layer icon, PNG markers) are removed.
#pragma once

#include <string_view>

namespace binscan {

std::string_view leaflet_js();
std::string_view leaflet_css();

}  // namespace binscan
