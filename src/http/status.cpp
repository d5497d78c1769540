#include "status.hpp"

namespace hookd::http {

int status_of(ec code) {
  switch (code) {
  case ec::ok:
    return 200;
  case ec::bad_request:
    return 400;
  case ec::unauthenticated:
    return 401;
  case ec::forbidden:
    return 403;
  case ec::not_found:
    return 404;
  case ec::method_not_allowed:
    return 405;
  case ec::conflict:
    return 409;
  case ec::payload_too_large:
    return 413;
  case ec::unsupported_media_type:
    return 415;
  case ec::too_many_requests:
    return 429;
  case ec::unavailable:
    return 503;
  case ec::internal:
    return 500;
  }
  return 500;
}

int status_of(success s) {
  switch (s) {
  case success::ok:
    return 200;
  case success::created:
    return 201;
  case success::accepted:
    return 202;
  case success::no_content:
    return 204;
  }
  return 200;
}

const char* reason_of(int status) {
  switch (status) {
  case 200:
    return "OK";
  case 201:
    return "Created";
  case 202:
    return "Accepted";
  case 204:
    return "No Content";
  case 400:
    return "Bad Request";
  case 401:
    return "Unauthorized";
  case 403:
    return "Forbidden";
  case 404:
    return "Not Found";
  case 405:
    return "Method Not Allowed";
  case 409:
    return "Conflict";
  case 413:
    return "Payload Too Large";
  case 415:
    return "Unsupported Media Type";
  case 429:
    return "Too Many Requests";
  case 503:
    return "Service Unavailable";
  default:
    return "Internal Server Error";
  }
}

} // namespace hookd::http
