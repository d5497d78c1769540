// The dashboard (/ui/) as its users see it: its files and their security
// headers, the API it reads (who am I, an organization's scopes), and the
// page itself in a real headless Chromium against the real hookd and a
// real receiver. Screenshots of each step go to ui-screenshots/ in the
// build directory.
#include <filesystem>
#include <memory>
#include <regex>
#include <set>
#include <string>

#include <gtest/gtest.h>

#include "browser.hpp"
#include "harness.hpp"
#include "receiver.hpp"

namespace {

using namespace hookd_test;

constexpr const char* stack_hooks = "/api/stacks/acme/web/prod/hooks";
constexpr const char* env_hooks
    = "/api/esc/environments/acme/default/dev/hooks";
constexpr const char* org_hooks = "/api/orgs/acme/hooks";
constexpr auto deadline = 10s;

process_options delivering() {
  process_options opts;
  // The receiver is on loopback; a failed attempt waits an hour, so the
  // page shows a next attempt that stays put.
  opts.env = {{"HOOKD_ALLOW_PRIVATE_TARGETS", "1"},
              {"HOOKD_RETRY_SCHEDULE", "0s,1h"}};
  return opts;
}

json stack_hook(const std::string& name, const std::string& display,
                const std::string& url) {
  return {{"organizationName", "acme"},
          {"projectName", "web"},
          {"stackName", "prod"},
          {"name", name},
          {"displayName", display},
          {"payloadUrl", url},
          {"active", true}};
}

/// Polls `pred` until it holds or the deadline passes.
template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds within = deadline) {
  auto until = std::chrono::steady_clock::now() + within;
  for (;;) {
    if (pred())
      return true;
    if (std::chrono::steady_clock::now() >= until)
      return false;
    std::this_thread::sleep_for(20ms);
  }
}

// -- the files ---------------------------------------------------------------

TEST(dashboard_files, are_served_without_a_token_with_strict_headers) {
  hookd_process hookd;
  auto anonymous = hookd.client(std::nullopt);
  for (const auto& [path, type] :
       std::vector<std::pair<std::string, std::string>>{
           {"/ui/", "text/html"},
           {"/ui/app.js", "text/javascript"},
           {"/ui/app.css", "text/css"},
           {"/ui/icon.svg", "image/svg+xml"}}) {
    auto r = anonymous.get(path);
    ASSERT_EQ(r.status, 200) << path << ": " << show(r);
    EXPECT_EQ(r.header("Content-Type").value_or("").rfind(type, 0), 0u) << path;
    EXPECT_FALSE(r.body.empty()) << path;
    auto csp = r.header("Content-Security-Policy").value_or("");
    EXPECT_NE(csp.find("default-src 'self'"), std::string::npos) << csp;
    EXPECT_NE(csp.find("frame-ancestors 'none'"), std::string::npos) << csp;
    EXPECT_EQ(csp.find("unsafe-inline"), std::string::npos) << csp;
    EXPECT_EQ(csp.find("unsafe-eval"), std::string::npos) << csp;
    EXPECT_EQ(r.header("X-Content-Type-Options").value_or(""), "nosniff");
    EXPECT_EQ(r.header("Referrer-Policy").value_or(""), "no-referrer");
    EXPECT_TRUE(r.header("Cache-Control").has_value()) << path;
  }
  // Nothing is loaded from elsewhere, and no code is inline.
  auto page = anonymous.get("/ui/").body;
  EXPECT_EQ(page.find("http://"), std::string::npos);
  EXPECT_EQ(page.find("https://"), std::string::npos);
  EXPECT_EQ(page.find("<style"), std::string::npos);
  EXPECT_EQ(page.find("<script>"), std::string::npos);
  EXPECT_FALSE(std::regex_search(page, std::regex{R"(\son[a-z]+\s*=)"}))
      << "an inline handler";
  EXPECT_EQ(page.find("style="), std::string::npos);
}

TEST(dashboard_files, ui_redirects_and_unknown_files_are_404) {
  hookd_process hookd;
  auto anonymous = hookd.client(std::nullopt);
  auto r = anonymous.get("/ui");
  EXPECT_EQ(r.status, 301) << show(r);
  EXPECT_EQ(r.header("Location").value_or(""), "/ui/");
  EXPECT_TRUE(is_error(anonymous.get("/ui/nothing.js"), 404));
  EXPECT_TRUE(is_error(anonymous.get("/ui/..%2Fassets.hpp"), 404));
  EXPECT_TRUE(is_error(anonymous.get("/ui/a/b.js"), 404));
  EXPECT_TRUE(is_error(anonymous.get("/ui/.hidden"), 404));
  auto post = anonymous.request("POST", "/ui/", "{}");
  EXPECT_TRUE(is_error(post, 405));
  EXPECT_EQ(post.header("Allow").value_or(""), "GET");
}

// -- the API the page reads
// ----------------------------------------------------

TEST(dashboard_api, user_says_what_a_token_may_open) {
  hookd_process hookd;
  auto admin = hookd.client();
  auto me = admin.get("/api/user");
  ASSERT_TRUE(is_json_status(me, 200)) << show(me);
  EXPECT_EQ(me.body_json(), (json{{"role", "admin"},
                                  {"name", "admin"},
                                  {"organizations", json::array()}}));

  auto made = admin.post("/api/orgs/acme/tokens", {{"name", "dashboard"}});
  ASSERT_TRUE(is_json_status(made, 201)) << show(made);
  auto token = made.body_json()["tokenValue"].get<std::string>();
  auto org = admin.as(token).get("/api/user");
  ASSERT_TRUE(is_json_status(org, 200)) << show(org);
  EXPECT_EQ(org.body_json(), (json{{"role", "org"},
                                   {"name", "dashboard"},
                                   {"organizations", {"acme"}}}));

  EXPECT_TRUE(is_error(admin.as(std::nullopt).get("/api/user"), 401));
  EXPECT_TRUE(is_error(admin.as("hookd_nope_nope").get("/api/user"), 401));
  EXPECT_TRUE(is_error(admin.request("POST", "/api/user", "{}"), 405));
}

TEST(dashboard_api, scopes_lists_stacks_and_environments_with_their_counts) {
  hookd_process hookd;
  auto admin = hookd.client();
  auto r = admin.get("/api/orgs/acme/scopes");
  ASSERT_TRUE(is_json_status(r, 200)) << show(r);
  EXPECT_EQ(r.body_json(), json::array());

  const std::string url = "https://example.com/hook";
  for (const auto& name : {"a", "b"})
    ASSERT_EQ(admin.post(stack_hooks, stack_hook(name, name, url)).status, 201);
  ASSERT_EQ(admin
                .post("/api/stacks/acme/api/staging/hooks",
                      {{"displayName", "s"}, {"payloadUrl", url}})
                .status,
            201);
  ASSERT_EQ(
      admin.post(env_hooks, {{"displayName", "e"}, {"payloadUrl", url}}).status,
      201);
  ASSERT_EQ(
      admin.post(org_hooks, {{"displayName", "o"}, {"payloadUrl", url}}).status,
      201);
  // Another organization's scopes stay out of acme's listing.
  ASSERT_EQ(admin
                .post("/api/stacks/other/web/prod/hooks",
                      {{"displayName", "x"}, {"payloadUrl", url}})
                .status,
            201);

  r = admin.get("/api/orgs/acme/scopes");
  ASSERT_TRUE(is_json_status(r, 200)) << show(r);
  auto expected = json::array({{{"kind", "environment"},
                                {"organizationName", "acme"},
                                {"projectName", "default"},
                                {"envName", "dev"},
                                {"hooks", 1}},
                               {{"kind", "stack"},
                                {"organizationName", "acme"},
                                {"projectName", "api"},
                                {"stackName", "staging"},
                                {"hooks", 1}},
                               {{"kind", "stack"},
                                {"organizationName", "acme"},
                                {"projectName", "web"},
                                {"stackName", "prod"},
                                {"hooks", 2}}});
  EXPECT_EQ(r.body_json(), expected);
  EXPECT_FALSE(r.header("Link").has_value());

  // A page at a time, following the Link header.
  json all = json::array();
  std::string next = "/api/orgs/acme/scopes?limit=1";
  int pages = 0;
  while (!next.empty() && pages < 10) {
    auto page = admin.get(next);
    ASSERT_TRUE(is_json_status(page, 200)) << show(page);
    ASSERT_LE(page.body_json().size(), 1u);
    for (auto& s : page.body_json())
      all.push_back(s);
    next.clear();
    if (auto link = page.header("Link")) {
      auto open = link->find('<');
      auto close = link->find('>');
      ASSERT_NE(close, std::string::npos) << *link;
      next = link->substr(open + 1, close - open - 1);
    }
    ++pages;
  }
  EXPECT_EQ(all, expected);
  EXPECT_EQ(pages, 3);

  EXPECT_TRUE(is_error(admin.get("/api/orgs/acme/scopes?limit=0"), 400));
  EXPECT_TRUE(is_error(admin.get("/api/orgs/acme/scopes?limit=1001"), 400));
  EXPECT_TRUE(is_error(
      admin.get("/api/orgs/acme/scopes?continuationToken=x/../y"), 400));

  // A scope whose last webhook goes leaves the listing.
  ASSERT_EQ(
      admin
          .del(std::string{env_hooks} + "/"
               + admin.get(env_hooks).body_json()[0]["name"].get<std::string>())
          .status,
      204);
  r = admin.get("/api/orgs/acme/scopes");
  ASSERT_EQ(r.body_json().size(), 2u) << show(r);
  EXPECT_EQ(r.body_json()[0]["kind"], "stack");
}

TEST(dashboard_api, scopes_are_checked_like_the_rest_and_survive_a_restart) {
  auto hookd = std::make_unique<hookd_process>();
  auto admin = hookd->client();
  ASSERT_EQ(
      admin.post(stack_hooks, stack_hook("a", "a", "https://example.com/hook"))
          .status,
      201);
  auto made = admin.post("/api/orgs/other/tokens", {{"name", "other"}});
  ASSERT_EQ(made.status, 201) << show(made);
  auto other = admin.as(made.body_json()["tokenValue"].get<std::string>());
  EXPECT_TRUE(is_error(other.get("/api/orgs/acme/scopes"), 403));
  EXPECT_TRUE(
      is_error(admin.as(std::nullopt).get("/api/orgs/acme/scopes"), 401));
  EXPECT_TRUE(is_json_status(other.get("/api/orgs/other/scopes"), 200));

  ASSERT_TRUE(hookd->stop().clean());
  hookd = hookd->restart();
  auto r = hookd->client().get("/api/orgs/acme/scopes");
  ASSERT_TRUE(is_json_status(r, 200)) << show(r);
  ASSERT_EQ(r.body_json().size(), 1u) << show(r);
  EXPECT_EQ(r.body_json()[0]["stackName"], "prod");
  EXPECT_EQ(r.body_json()[0]["hooks"], 1);
}

// -- the page in a browser
// -------------------------------------------------------

/// Where the screenshots go; made on first use.
std::string screenshot_path(const std::string& name) {
  std::filesystem::create_directories(HOOKD_UI_SCREENSHOT_DIR);
  return std::string{HOOKD_UI_SCREENSHOT_DIR} + "/" + name + ".png";
}

/// JavaScript for a string literal.
std::string js(const std::string& s) {
  return json(s).dump();
}

/// Clicks the first element matching `selector` whose text contains
/// `text`; false when there is none.
std::string click_text(const std::string& selector, const std::string& text) {
  return "(() => { const el = [...document.querySelectorAll(" + js(selector)
         + ")].find((e) => e.textContent.includes(" + js(text)
         + ")); if (!el) return false; el.click(); return true; })()";
}

/// Focuses (and selects the contents of) the field a label names.
std::string focus_field(const std::string& label) {
  return "(() => { const l = [...document.querySelectorAll('label')].find("
         "(e) => e.textContent.trim() === "
         + js(label)
         + "); if (!l || !l.control) return false; l.control.focus(); "
           "l.control.select(); return true; })()";
}

/// The text of the page's element matching `selector` ("" when none).
std::string text_of(const std::string& selector) {
  return "((document.querySelector(" + js(selector)
         + ") || {}).textContent || '')";
}

class dashboard : public testing::Test {
protected:
  void SetUp() override {
    auto chromium = find_chromium();
    ASSERT_FALSE(chromium.empty())
        << "chromium is not installed: the dashboard is tested in a real "
           "headless browser. Install it with scripts/install-deps.sh "
           "(Debian package 'chromium'), or point HOOKD_CHROMIUM at one.";
    hookd_ = std::make_unique<hookd_process>(delivering());
    ASSERT_TRUE(hookd_->listening()) << hookd_->start_error();
    profile_ = std::make_unique<temp_dir>();
    try {
      browser_
          = std::make_unique<browser>(chromium, profile_->path(), 1360, 880);
    } catch (const std::exception& e) {
      FAIL() << "cannot drive " << chromium << ": " << e.what();
    }
  }

  void TearDown() override {
    if (browser_) {
      for (const auto& p : browser_->page_problems())
        ADD_FAILURE() << "in the page: " << p;
      if (HasFailure())
        std::cerr << "chromium's log:\n" << browser_->log() << '\n';
    }
    browser_.reset(); // closes and kills the browser, also after a failure
  }

  /// Evaluates until truthy; fails the test (with the page's text) if not.
  void expect_page(const std::string& expression,
                   std::chrono::milliseconds within = deadline) {
    if (!browser_->wait_for(expression, within))
      FAIL() << "the page never showed: " << expression << "\nit shows: "
             << browser_->eval("document.body.innerText").dump();
  }

  std::string base() const {
    return "http://127.0.0.1:" + std::to_string(hookd_->port());
  }

  /// The deliveries of a webhook, once none is pending.
  json settled_deliveries(const std::string& hook_path, std::size_t n) {
    json list;
    EXPECT_TRUE(eventually([&] {
      list = hookd_->client().get(hook_path + "/deliveries").body_json();
      if (!list.is_array() || list.size() < n)
        return false;
      for (const auto& d : list)
        if (d["status"] == "pending")
          return false;
      return true;
    })) << list.dump();
    return list;
  }

  /// The token must never be in the page's address or any address it
  /// fetched.
  void expect_token_kept_out_of_urls(const std::string& token) {
    auto urls = browser_->eval(
        "[location.href, ...performance.getEntriesByType('resource')"
        ".map((e) => e.name)]");
    ASSERT_TRUE(urls.is_array());
    for (const auto& u : urls)
      EXPECT_EQ(u.get<std::string>().find(token), std::string::npos)
          << "the token is in " << u;
  }

  std::unique_ptr<hookd_process> hookd_;
  std::unique_ptr<temp_dir> profile_;
  std::unique_ptr<browser> browser_;
  receiver rx_;
};

TEST_F(dashboard, signs_in_browses_and_redelivers_in_a_real_browser) {
  auto api = hookd_->client();
  rx_.reply_on("/flaky", {reply::with_status(503, R"({"error":"busy"})")});
  auto deploys
      = stack_hook("deploys", "Deploy notifications", rx_.url("/deploys"));
  deploys["secret"] = "s3cr3t-for-the-dashboard";
  deploys["filters"] = {"update_succeeded", "update_failed"};
  ASSERT_EQ(api.post(stack_hooks, deploys).status, 201);
  ASSERT_EQ(api.post(stack_hooks,
                     stack_hook("flaky", "Flaky receiver", rx_.url("/flaky")))
                .status,
            201);
  ASSERT_EQ(api.post(org_hooks, {{"name", "audit"},
                                 {"displayName", "Audit trail"},
                                 {"payloadUrl", rx_.url("/audit")},
                                 {"groups", {"stacks", "deployments"}}})
                .status,
            201);
  ASSERT_EQ(api.post(env_hooks, {{"name", "config"},
                                 {"displayName", "Config changes"},
                                 {"payloadUrl", rx_.url("/config")}})
                .status,
            201);
  auto sent = api.post(
      "/api/orgs/acme/events",
      json::array({{{"event", "update_succeeded"},
                    {"projectName", "web"},
                    {"stackName", "prod"},
                    {"user", {{"name", "Ann"}, {"githubLogin", "ann"}}},
                    {"data", {{"resourceChanges", {{"create", 3}}}}}},
                   {{"event", "update_failed"},
                    {"projectName", "web"},
                    {"stackName", "prod"}}}));
  ASSERT_EQ(sent.status, 202) << show(sent);
  auto first_id = sent.body_json()["ids"][0].get<std::string>();
  auto before = settled_deliveries(std::string{stack_hooks} + "/deploys", 2);
  settled_deliveries(std::string{stack_hooks} + "/flaky", 2);

  // Signing in: a wrong token is refused in words.
  browser_->navigate(base() + "/ui/");
  expect_page("document.querySelector('label[for=token]')");
  EXPECT_EQ(browser_->eval("document.querySelector('label[for=token]')"
                           ".textContent.trim()"),
            "Token");
  EXPECT_EQ(browser_->eval("document.getElementById('token').type"),
            "password");
  browser_->screenshot(screenshot_path("01-sign-in"));
  ASSERT_EQ(browser_->eval(focus_field("Token")), true);
  const std::string wrong = "hookd_0000_not-a-real-token";
  browser_->type(wrong);
  browser_->press("Enter");
  expect_page(text_of("#signin-error") + ".includes('not accepted')");
  browser_->screenshot(screenshot_path("02-wrong-token"));
  expect_token_kept_out_of_urls(wrong);

  ASSERT_EQ(browser_->eval(focus_field("Token")), true);
  browser_->type(test_admin_token);
  ASSERT_EQ(browser_->eval(click_text("button", "Sign in")), true);

  // An admin token sees no list of organizations: it types a name.
  expect_page(focus_field("Organization"));
  EXPECT_EQ(browser_->eval("sessionStorage.getItem('hookd.token')"),
            test_admin_token);
  browser_->screenshot(screenshot_path("03-open-organization"));
  browser_->type("acme");
  ASSERT_EQ(browser_->eval(click_text("button", "Open")), true);
  expect_page("document.querySelector('.hook-card[data-hook=audit]')");
  browser_->screenshot(screenshot_path("04-organization-webhooks"));
  ASSERT_EQ(browser_->eval(click_text(".sidebar a", "web/prod")), true);
  expect_page("document.querySelector('.hook-card[data-hook=deploys]')");
  EXPECT_EQ(browser_->eval("document.querySelectorAll('.hook-card').length"),
            2);
  EXPECT_EQ(browser_->eval(text_of(".sidebar") + ".includes('default/dev')"),
            true);
  browser_->screenshot(screenshot_path("05-stack-webhooks"));

  // The webhook and its deliveries, as the API has them.
  ASSERT_EQ(browser_->eval(click_text(".hook-card", "Deploy notifications")),
            true);
  expect_page("document.querySelectorAll('tr.delivery-row').length === 2");
  auto row = "document.querySelector('tr.delivery-row[data-event-id="
             + js(first_id) + "]')";
  expect_page(row);
  EXPECT_EQ(browser_->eval(row + ".textContent.includes('Succeeded')"), true);
  EXPECT_EQ(browser_->eval(row + ".querySelector('.event-title').textContent"),
            "Update succeeded");
  EXPECT_EQ(browser_->eval(row + ".querySelector('.code').textContent"), "200");
  auto attempts_shown = [&] {
    return std::stoi(
        browser_->eval(row + ".querySelector('td.attempts').textContent")
            .get<std::string>());
  };
  auto attempts = attempts_shown();
  for (const auto& d : before) {
    if (d["id"] == first_id) {
      EXPECT_EQ(attempts, d["attempts"].get<int>());
    }
  }
  browser_->screenshot(screenshot_path("06-webhook-deliveries"));

  // New deliveries appear without a reload.
  ASSERT_EQ(browser_->eval("window.loadedOnce = true"), true);
  ASSERT_EQ(api.post("/api/orgs/acme/events", {{"event", "update_succeeded"},
                                               {"projectName", "web"},
                                               {"stackName", "prod"}})
                .status,
            202);
  expect_page("document.querySelectorAll('tr.delivery-row').length === 3");
  EXPECT_EQ(browser_->eval("window.loadedOnce === true"), true)
      << "the page was reloaded";

  // Redeliver: the attempt count shown grows, and the receiver gets it.
  auto received = rx_.requests_to("/deploys").size();
  ASSERT_EQ(browser_->eval("(() => { const b = [..." + row
                           + ".querySelectorAll('button')].find((e) => "
                             "e.textContent.includes('Redeliver')); "
                             "b.click(); return true; })()"),
            true);
  expect_page("Number(" + row + ".querySelector('td.attempts').textContent) > "
              + std::to_string(attempts));
  EXPECT_TRUE(rx_.wait_for_path("/deploys", received + 1));
  EXPECT_EQ(rx_.requests_to("/deploys").back().header("Pulumi-Webhook-Id"),
            first_id);

  // A delivery's request and response, in full.
  ASSERT_EQ(browser_->eval(row + ".click() === undefined"), true);
  expect_page("document.querySelector('.drawer')");
  auto drawer = browser_->eval(text_of(".drawer")).get<std::string>();
  EXPECT_NE(drawer.find("Pulumi-Webhook-Signature"), std::string::npos);
  EXPECT_NE(drawer.find("\"create\": 3"), std::string::npos) << drawer;
  EXPECT_NE(drawer.find("\"ok\": true"), std::string::npos) << drawer;
  browser_->screenshot(screenshot_path("07-delivery-detail"));
  browser_->press("Escape");
  expect_page("!document.querySelector('.drawer')");

  // Ping: its delivery joins the list.
  ASSERT_EQ(browser_->eval(click_text("button", "Ping")), true);
  expect_page("[...document.querySelectorAll('tr.delivery-row .kind')]"
              ".some((e) => e.textContent === 'ping')");
  expect_page(text_of(".toasts") + ".includes('Ping answered 200')");

  // A receiver that fails: the status, its error and the next attempt.
  ASSERT_EQ(browser_->eval(click_text(".crumbs a", "web/prod")), true);
  expect_page(click_text(".hook-card", "Flaky receiver"));
  // It takes every event: the two above and the one sent since.
  expect_page("document.querySelectorAll('tr.delivery-row').length === 3");
  EXPECT_EQ(
      browser_->eval(text_of("tr.delivery-row") + ".includes('Retrying')"),
      true);
  EXPECT_EQ(browser_->eval(text_of("tr.delivery-row") + ".includes('503')"),
            true);
  browser_->screenshot(screenshot_path("08-retrying-deliveries"));

  expect_token_kept_out_of_urls(test_admin_token);
  EXPECT_EQ(browser_->eval("document.body.innerText.includes("
                           + js(test_admin_token) + ")"),
            false);

  // Signing out forgets the token.
  ASSERT_EQ(browser_->eval(click_text("button", "Sign out")), true);
  expect_page("document.querySelector('label[for=token]')");
  EXPECT_EQ(browser_->eval("sessionStorage.getItem('hookd.token')"), nullptr);
}

TEST_F(dashboard,
       an_organization_token_sees_its_organization_and_nothing_else) {
  auto api = hookd_->client();
  ASSERT_EQ(api.post(env_hooks, {{"name", "config"},
                                 {"displayName", "Config changes"},
                                 {"payloadUrl", rx_.url("/config")}})
                .status,
            201);
  auto made = api.post("/api/orgs/acme/tokens", {{"name", "ops"}});
  ASSERT_EQ(made.status, 201) << show(made);
  auto token = made.body_json()["tokenValue"].get<std::string>();

  browser_->navigate(base() + "/ui/");
  expect_page(focus_field("Token"));
  browser_->type(token);
  browser_->press("Enter");
  expect_page("document.querySelector('.org-link')");
  EXPECT_EQ(browser_->eval("document.querySelectorAll('.org-link').length"), 1);
  EXPECT_EQ(browser_->eval(text_of(".org-link .org-name")), "acme");
  EXPECT_EQ(browser_->eval(text_of(".who") + ".includes('ops')"), true);
  browser_->screenshot(screenshot_path("09-organization-token"));

  // Another organization: refused, in words.
  ASSERT_EQ(browser_->eval(focus_field("Another organization")), true);
  browser_->type("globex");
  ASSERT_EQ(browser_->eval(click_text("button", "Open")), true);
  expect_page(text_of(".form-error")
              + ".includes(\"no access to organization 'globex'\")");

  ASSERT_EQ(browser_->eval(click_text(".org-link", "acme")), true);
  expect_page(click_text(".sidebar a", "default/dev"));
  expect_page("document.querySelector('.hook-card[data-hook=config]')");
  ASSERT_EQ(browser_->eval(click_text(".hook-card", "Config changes")), true);
  expect_page(text_of(".empty") + ".includes('No deliveries yet')");
  browser_->screenshot(screenshot_path("10-no-deliveries-yet"));
  expect_token_kept_out_of_urls(token);
}

} // namespace
