#include "web/ui.h"

#include <gtest/gtest.h>

#include <string>

namespace krond::web {
namespace {

http::Request Get(std::string path, std::string if_none_match = "") {
  http::Request r;
  r.method = "GET";
  r.path = std::move(path);
  if (!if_none_match.empty()) r.headers["if-none-match"] = std::move(if_none_match);
  return r;
}

std::string HeaderOf(const http::Response& r, const std::string& name) {
  for (const auto& [k, v] : r.headers) {
    if (k == name) return v;
  }
  return "";
}

const Asset kFakes[] = {
    {"/", "text/html; charset=utf-8", "<p>hi</p>", "\"aaaa\""},
    {"/assets/app.js", "text/javascript; charset=utf-8", "let x = 1;", "\"bbbb\""},
};

TEST(UiTest, ServesAnAssetWithItsTypeEtagAndSecurityHeaders) {
  const Ui ui(kFakes);
  auto r = ui.Handle(Get("/assets/app.js"));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "let x = 1;");
  EXPECT_EQ(r->content_type, "text/javascript; charset=utf-8");
  EXPECT_EQ(HeaderOf(*r, "ETag"), "\"bbbb\"");
  EXPECT_EQ(HeaderOf(*r, "Cache-Control"), "no-cache");
  EXPECT_EQ(HeaderOf(*r, "Content-Security-Policy"), kContentSecurityPolicy);
  EXPECT_EQ(HeaderOf(*r, "X-Content-Type-Options"), "nosniff");
  EXPECT_EQ(HeaderOf(*r, "X-Frame-Options"), "DENY");
}

TEST(UiTest, AnswersNotModifiedForAMatchingEtag) {
  const Ui ui(kFakes);
  for (const char* tag : {"\"aaaa\"", "W/\"aaaa\"", "\"zzzz\", \"aaaa\"", "*"}) {
    auto r = ui.Handle(Get("/", tag));
    ASSERT_TRUE(r.has_value()) << tag;
    EXPECT_EQ(r->status, 304) << tag;
    EXPECT_EQ(r->body, "") << tag;
    EXPECT_EQ(HeaderOf(*r, "ETag"), "\"aaaa\"");
  }
  auto stale = ui.Handle(Get("/", "\"bbbb\""));
  ASSERT_TRUE(stale.has_value());
  EXPECT_EQ(stale->status, 200);
  EXPECT_EQ(stale->body, "<p>hi</p>");
}

TEST(UiTest, LeavesOtherPathsAndMethodsToTheCaller) {
  const Ui ui(kFakes);
  EXPECT_FALSE(ui.Handle(Get("/index.html")).has_value());
  EXPECT_FALSE(ui.Handle(Get("/api/v1/jobs")).has_value());
  EXPECT_FALSE(ui.Handle(Get("/assets/app.js/")).has_value());
  http::Request post = Get("/");
  post.method = "POST";
  EXPECT_FALSE(ui.Handle(post).has_value());
  http::Request head = Get("/");
  head.method = "HEAD";
  EXPECT_TRUE(ui.Handle(head).has_value());
}

// The files built into the binary: the page, its script and style, each with a content
// hash as ETag, and a page that loads nothing from another origin (the console works
// offline and its CSP would block it anyway).
TEST(EmbeddedAssetsTest, HoldTheBuiltConsole) {
  const Ui ui;
  for (const char* path : {"/", "/assets/app.js", "/assets/app.css", "/favicon.svg"}) {
    auto r = ui.Handle(Get(path));
    ASSERT_TRUE(r.has_value()) << path;
    EXPECT_EQ(r->status, 200);
    EXPECT_GT(r->body.size(), 100u) << path;
    const std::string etag = HeaderOf(*r, "ETag");
    EXPECT_EQ(etag.size(), 34u) << etag;
  }
  auto page = ui.Handle(Get("/"));
  EXPECT_EQ(page->content_type, "text/html; charset=utf-8");
  EXPECT_NE(page->body.find("src=\"/assets/app.js\""), std::string::npos);
  EXPECT_NE(page->body.find("href=\"/assets/app.css\""), std::string::npos);
  for (const char* external : {"src=\"http", "href=\"http", "src=\"//", "href=\"//"}) {
    EXPECT_EQ(page->body.find(external), std::string::npos) << external;
  }
  auto css = ui.Handle(Get("/assets/app.css"));
  EXPECT_EQ(css->body.find("url(http"), std::string::npos);
  EXPECT_EQ(css->body.find("@import"), std::string::npos);
}

}  // namespace
}  // namespace krond::web
