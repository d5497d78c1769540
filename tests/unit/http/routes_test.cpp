#include "http/routes.hpp"

#include <gtest/gtest.h>

using namespace hookd;
using namespace hookd::http;
using target = route::target;

TEST(routes, scopes_and_operations) {
  auto r = match_route("GET", "/api/orgs/acme/hooks", "");
  ASSERT_EQ(r.what, target::api);
  EXPECT_EQ(r.call.op, operation::list_hooks);
  EXPECT_EQ(r.call.where.key(), "o/acme");

  r = match_route("PATCH", "/api/stacks/acme/web/prod/hooks/h1", "");
  ASSERT_EQ(r.what, target::api);
  EXPECT_EQ(r.call.op, operation::update_hook);
  EXPECT_EQ(r.call.where.key(), "s/acme/web/prod");
  EXPECT_EQ(r.call.hook, "h1");

  r = match_route("POST", "/api/esc/environments/acme/proj/dev/hooks/h1/ping",
                  "");
  ASSERT_EQ(r.what, target::api);
  EXPECT_EQ(r.call.op, operation::ping_hook);
  EXPECT_EQ(r.call.where.key(), "e/acme/proj/dev");

  r = match_route("GET", "/api/preview/environments/acme/dev/hooks", "");
  ASSERT_EQ(r.what, target::api);
  EXPECT_EQ(r.call.where.key(), "e/acme/default/dev");

  r = match_route("POST",
                  "/api/orgs/acme/hooks/h1/deliveries/abc-123/redeliver", "");
  ASSERT_EQ(r.what, target::api);
  EXPECT_EQ(r.call.op, operation::redeliver);
  EXPECT_EQ(r.call.item, "abc-123");

  r = match_route("GET", "/api/orgs/acme/hooks/h1/deliveries",
                  "limit=5&continuationToken=00ff");
  ASSERT_EQ(r.what, target::api);
  EXPECT_EQ(r.call.limit, "5");
  EXPECT_EQ(r.call.continuation, "00ff");

  r = match_route("DELETE", "/api/orgs/acme/tokens/t1", "");
  ASSERT_EQ(r.what, target::api);
  EXPECT_EQ(r.call.op, operation::delete_token);
  EXPECT_EQ(r.call.item, "t1");

  EXPECT_EQ(match_route("GET", "/healthz", "").what, target::healthz);
}

TEST(routes, unknown_routes_and_methods) {
  EXPECT_EQ(match_route("GET", "/", "").what, target::not_found);
  EXPECT_EQ(match_route("GET", "/api/orgs/acme", "").what, target::not_found);
  EXPECT_EQ(match_route("GET", "/api/orgs/acme/hooks/h/nope", "").what,
            target::not_found);
  auto r = match_route("PUT", "/api/orgs/acme/hooks", "");
  EXPECT_EQ(r.what, target::method_not_allowed);
  EXPECT_EQ(r.allow, "GET, POST");
  EXPECT_EQ(match_route("POST", "/api/orgs/acme/hooks/h1", "").what,
            target::method_not_allowed);
}

TEST(routes, hostile_names_are_refused) {
  for (auto path : {"/api/orgs/acme/hooks/a%2Fb", "/api/orgs/acme/hooks/..",
                    "/api/orgs/acme/hooks/a%00b", "/api/orgs/acme/hooks/a%0Ab",
                    "/api/orgs/%2E%2E/hooks", "/api/orgs/ac%ZZme/hooks",
                    "/api/stacks/acme/we b/prod/hooks"}) {
    auto r = match_route("GET", path, "");
    EXPECT_TRUE(r.what == target::bad_name || r.what == target::not_found)
        << path;
    EXPECT_NE(r.what, target::api) << path;
  }
  auto long_name = "/api/orgs/acme/hooks/" + std::string(33, 'a');
  EXPECT_EQ(match_route("GET", long_name, "").what, target::bad_name);
}

TEST(routes, credentials) {
  EXPECT_EQ(credential_of("token abc"), "abc");
  EXPECT_EQ(credential_of("Bearer abc"), "abc");
  EXPECT_EQ(credential_of("TOKEN  abc "), "abc");
  EXPECT_EQ(credential_of("Basic abc"), "");
  EXPECT_EQ(credential_of("abc"), "");
}

TEST(routes, percent_decoding) {
  std::string out;
  EXPECT_TRUE(percent_decode("a%2Fb", out));
  EXPECT_EQ(out, "a/b");
  EXPECT_FALSE(percent_decode("a%2", out));
  EXPECT_FALSE(percent_decode("a%zz", out));
}

TEST(routes, dashboard_files) {
  auto r = match_route("GET", "/ui/", "");
  ASSERT_EQ(r.what, target::asset);
  EXPECT_EQ(r.asset, "ui/index.html");
  r = match_route("GET", "/ui/app.js", "v=2");
  ASSERT_EQ(r.what, target::asset);
  EXPECT_EQ(r.asset, "ui/app.js");
  r = match_route("GET", "/ui", "");
  ASSERT_EQ(r.what, target::redirect);
  EXPECT_EQ(r.location, "/ui/");
  // Nothing outside ui/, and no hidden files.
  for (const char* path : {"/ui/../assets.hpp", "/ui/%2E%2E%2Fx", "/ui/a/b.js",
                           "/ui/.keep", "/ui/%zz", "/ui/a%2Fb"})
    EXPECT_EQ(match_route("GET", path, "").what, target::not_found) << path;
  r = match_route("POST", "/ui/", "");
  EXPECT_EQ(r.what, target::method_not_allowed);
  EXPECT_EQ(r.allow, "GET");
  EXPECT_EQ(match_route("GET", "/uix", "").what, target::not_found);
}

TEST(routes, dashboard_api) {
  auto r = match_route("GET", "/api/user", "");
  ASSERT_EQ(r.what, target::api);
  EXPECT_EQ(r.call.op, operation::whoami);
  EXPECT_EQ(match_route("DELETE", "/api/user", "").what,
            target::method_not_allowed);

  r = match_route("GET", "/api/orgs/acme/scopes",
                  "limit=10&continuationToken=s/web/prod");
  ASSERT_EQ(r.what, target::api);
  EXPECT_EQ(r.call.op, operation::list_scopes);
  EXPECT_EQ(r.call.where.org, "acme");
  EXPECT_EQ(r.call.limit, "10");
  EXPECT_EQ(r.call.continuation, "s/web/prod");
  EXPECT_EQ(match_route("POST", "/api/orgs/acme/scopes", "").what,
            target::method_not_allowed);
}
