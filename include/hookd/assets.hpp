#pragma once

#include <string_view>

namespace hookd::assets {

/// A file of src/assets/, compiled into the binary at build time
/// (cmake/embed_assets.cmake): hookd serves its dashboard and its OpenAPI
/// document without reading anything from disk.
struct asset {
  std::string_view path;         ///< relative to src/assets/, e.g. "ui/app.js"
  std::string_view content_type; ///< from the file's extension
  std::string_view body;
};

/// The asset at `path`, or nullptr when there is none.
const asset* find(std::string_view path);

} // namespace hookd::assets
