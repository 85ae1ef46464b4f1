// Automatic templating of paths no configured route matched: segments that look like identifiers become
// placeholders, so "/users/42/orders/9f1c..." is counted as "/users/{id}/orders/{uuid}". Pure and bounded:
// it writes into a caller-owned fixed buffer and never allocates; it holds no table (route_table.hpp does).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace apimeter::metrics {

// Bounds on the work done per request. A raw path longer than this is not templated at all.
inline constexpr std::size_t kMaxTemplatedPathBytes = 2048;
// A template longer than this, or with more segments, is not learned either: http_route="_other".
inline constexpr std::size_t kMaxTemplateBytes = 256;
inline constexpr std::size_t kMaxTemplateSegments = 24;
// Segments longer than this are always a placeholder: no human-made path segment is that long.
inline constexpr std::size_t kLongSegmentBytes = 64;
// Minimum lengths for the hex and token shapes; shorter runs stay literal ("v1", "cafe").
inline constexpr std::size_t kMinHexBytes = 16;
inline constexpr std::size_t kMinTokenBytes = 16;
// The http_route of everything that cannot (or may no longer) be templated.
inline constexpr std::string_view kOtherRoute = "_other";

// Placeholders, in the order they are tried:
//   {id}     decimal number ("42", "3.5"), or any segment holding a run of 4+ digits ("ord_12345")
//   {uuid}   8-4-4-4-12 hex with dashes, any case
//   {date}   YYYY-MM-DD, optionally followed by a time ("2024-05-01T10:00:00Z")
//   {email}  local@domain.tld (also with '@' percent-encoded as %40)
//   {hex}    16+ hex digits with at least one decimal digit (hashes, object ids)
//   {token}  16+ base64/base64url characters mixing classes like random data does (API keys, JWTs), any
//            segment over kLongSegmentBytes, and any segment with characters outside RFC 3986 pchar
enum class SegmentKind : std::uint8_t { literal, id, uuid, date, email, hex, token };

SegmentKind classify_segment(std::string_view segment) noexcept;
std::string_view placeholder(SegmentKind kind) noexcept;

using TemplateBuffer = std::array<char, kMaxTemplateBytes>;

// The template of `path` (a query, if present, is ignored) written into `out`, or an empty view when the
// path cannot be templated within the bounds above (not starting with '/', too long, too many segments).
// Empty segments and a trailing '/' are kept as they are.
std::string_view template_path(std::string_view path, TemplateBuffer& out) noexcept;

}  // namespace apimeter::metrics
