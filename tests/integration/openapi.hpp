// OpenAPI 3.0 documents for the integration tests: JSON Schema validation of
// values, and of real responses against the operation their request names.
// One validator for Pulumi's reference document and for hookd's own.
#pragma once

#include <string>
#include <string_view>

#include <gtest/gtest.h>

#include "harness.hpp"

namespace hookd_test {

/// An OpenAPI 3.0 document. Schemas are checked with the JSON Schema subset
/// OpenAPI 3.0 uses: type (with nullable), properties, required,
/// additionalProperties, items, enum, allOf, oneOf, anyOf, pattern,
/// min/maxLength, minimum/maximum, min/maxItems and $ref (local, "#/...").
/// A schema using any other keyword fails the check, so a document cannot
/// escape it by using what the validator does not know; annotations
/// (description, format, default, example, title, deprecated, readOnly,
/// writeOnly, x-...) are ignored.
class openapi_document {
public:
  explicit openapi_document(json doc) : doc_(std::move(doc)) {}

  /// Reads a document from a file; a discarded json when it cannot.
  static openapi_document load(const std::string& file);

  const json& doc() const {
    return doc_;
  }

  /// `value` against `schema`, whose $refs resolve in this document.
  ::testing::AssertionResult validate(const json& value,
                                      const json& schema) const;

  /// `value` against the schema at `ref`, e.g. "#/components/schemas/X".
  ::testing::AssertionResult validate_ref(const json& value,
                                          const std::string& ref) const;

  /// A real answer to `method path` (path as sent, query allowed) against
  /// the document: the path template it matches, the operation of that
  /// method, the response listed for its status (an unlisted status
  /// fails), the media type, the body's schema and the required headers.
  /// A path that matches no template must be the document's 404 for
  /// unrouted requests (`x-hookd-unrouted`), and a method the path does not
  /// take its 405, with an `Allow` header naming exactly the path's
  /// methods.
  ::testing::AssertionResult conforms(const std::string& method,
                                      const std::string& path,
                                      const http_response& r) const;

  /// The path template `path` matches (most literal segments win), or ""
  /// when none does.
  std::string template_of(std::string_view path) const;

private:
  json doc_;
};

/// hookd's own document, src/assets/openapi.json in the source tree.
const openapi_document& hookd_openapi();

/// Pulumi's reference document (tests/fixtures; HOOKD_OPENAPI_SPEC
/// overrides), with its schemas under components/schemas where its $refs
/// point.
const openapi_document& pulumi_openapi();

/// The path of Pulumi's reference document.
std::string pulumi_openapi_path();

} // namespace hookd_test
