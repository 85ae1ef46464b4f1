// `apimeter top` against a running proxy with known traffic: the plain table when stdout is not a terminal,
// --json, a one-line error when the admin address does not answer, and the live view in a real
// pseudo-terminal (tmux) refreshing in place, with a key press that changes the sort and q that quits.
#include "tests/integration/harness.hpp"

#include <unistd.h>

#include <gmock/gmock.h>

namespace apimeter::test {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr std::string_view kTmux = "/usr/bin/tmux";

std::string admin_of(const Stack& stack) { return "127.0.0.1:" + std::to_string(stack.proxy.admin_port); }

RunResult run_top(std::vector<std::string> args) {
  args.insert(args.begin(), "top");
  return run_to_completion(apimeter_bin(), std::move(args), 10s);
}

// Known traffic: /status/{code} 6 requests, 3 of them 503 (the worst error ratio); /delay/{ms} 2 slow ones
// (the worst p95); /bytes/{n} 2 large answers (the most bytes); /echo 10 quick ones (the highest rate).
Stack start_with_traffic() {
  Stack stack = start_stack({"--config", write_temp_file("apimeter.yaml", R"(service: shop
routes:
  - {name: status, template: '/status/{code}'}
  - {name: delay, template: '/delay/{ms}'}
  - {name: bytes, template: '/bytes/{n}'}
  - {name: echo, exact: /echo}
)"),
                             "--access-log", "off"});
  for (int i = 0; i < 3; ++i) EXPECT_EQ(round_trip(stack.port(), get_request("/status/200")).status, 200);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(round_trip(stack.port(), get_request("/status/503")).status, 503);
  for (int i = 0; i < 2; ++i) EXPECT_EQ(round_trip(stack.port(), get_request("/delay/200")).status, 200);
  for (int i = 0; i < 2; ++i) EXPECT_EQ(round_trip(stack.port(), get_request("/bytes/200000"), 10s).status, 200);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(round_trip(stack.port(), get_request("/echo")).status, 200);
  return stack;
}

// The route names of the table's rows, in order.
std::vector<std::string> table_routes(const std::vector<std::string>& lines) {
  std::vector<std::string> routes;
  bool in_table = false;
  for (const auto& line : lines) {
    if (line.starts_with("ROUTE")) {
      in_table = true;
      continue;
    }
    if (in_table && line.starts_with("/")) routes.push_back(line.substr(0, line.find(' ')));
  }
  return routes;
}

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::size_t at = 0;
  while (at < text.size()) {
    const std::size_t end = text.find('\n', at);
    lines.push_back(text.substr(at, end == std::string::npos ? std::string::npos : end - at));
    if (end == std::string::npos) break;
    at = end + 1;
  }
  return lines;
}

TEST(TopTest, PrintsThePlainTableOnceWhenStdoutIsNotATerminal) {
  Stack stack = start_with_traffic();
  RunResult rps = run_top({"--admin", admin_of(stack)});
  ASSERT_EQ(rps.exit_code, 0) << rps.err_text();
  EXPECT_THAT(rps.out_text(), HasSubstr("apimeter top - shop at " + admin_of(stack)));
  EXPECT_THAT(rps.out_text(), Not(HasSubstr("\x1b")));
  EXPECT_THAT(rps.out_text(), Not(HasSubstr("q quits")));
  EXPECT_THAT(table_routes(rps.out), ::testing::ElementsAre("/echo", "/status/{code}", "/bytes/{n}", "/delay/{ms}"));

  RunResult errors = run_top({"--admin", admin_of(stack), "--sort", "errors"});
  ASSERT_EQ(errors.exit_code, 0) << errors.err_text();
  ASSERT_FALSE(table_routes(errors.out).empty()) << errors.out_text();
  EXPECT_EQ(table_routes(errors.out)[0], "/status/{code}");
  const auto row = std::find_if(errors.out.begin(), errors.out.end(), [](auto& l) { return l.starts_with("/status/{code}"); });
  EXPECT_THAT(*row, HasSubstr("50.0%"));
  EXPECT_THAT(*row, ::testing::EndsWith(" 6"));

  RunResult p95 = run_top({"--admin", admin_of(stack), "--sort", "p95"});
  ASSERT_FALSE(table_routes(p95.out).empty()) << p95.out_text();
  EXPECT_EQ(table_routes(p95.out)[0], "/delay/{ms}");
  RunResult bytes = run_top({"--admin", admin_of(stack), "--sort", "bytes"});
  ASSERT_FALSE(table_routes(bytes.out).empty()) << bytes.out_text();
  EXPECT_EQ(table_routes(bytes.out)[0], "/bytes/{n}");
}

TEST(TopTest, JsonPrintsTheStatsDocument) {
  Stack stack = start_with_traffic();
  RunResult result = run_top({"--admin", admin_of(stack), "--json"});
  ASSERT_EQ(result.exit_code, 0) << result.err_text();
  ASSERT_FALSE(result.out.empty());
  EXPECT_TRUE(result.out[0].starts_with("{\"version\":2,\"service\":\"shop\",")) << result.out[0];
  EXPECT_THAT(result.out[0], HasSubstr("\"route\":\"/status/{code}\",\"requests_total\":6,\"errors_5xx_total\":3,"));
}

TEST(TopTest, SaysInOneLineWhenTheAdminAddressDoesNotAnswer) {
  const std::string nobody = "127.0.0.1:" + std::to_string(unused_port());
  RunResult result = run_top({"--admin", nobody});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_TRUE(result.out.empty()) << result.out_text();
  ASSERT_EQ(result.err.size(), 1u) << result.err_text();
  EXPECT_EQ(result.err[0], "apimeter top: cannot connect to " + nobody + ": Connection refused");

  // Something that answers, but not with /stats.
  DemoUpstream not_apimeter = start_demo_upstream();
  RunResult wrong = run_top({"--admin", not_apimeter.address()});
  EXPECT_EQ(wrong.exit_code, 1);
  ASSERT_EQ(wrong.err.size(), 1u) << wrong.err_text();
  EXPECT_EQ(wrong.err[0], "apimeter top: http://" + not_apimeter.address() + "/stats answered 404");
}

// A tmux server of the test's own (its socket in the test's temporary directory), killed at the end.
class Tmux {
 public:
  Tmux() : socket_((test_temp_dir() / "tmux.sock").string()) {}
  ~Tmux() { run({"kill-server"}); }
  RunResult run(std::vector<std::string> args) const {
    args.insert(args.begin(), {"-S", socket_, "-f", "/dev/null"});
    return run_to_completion(std::string(kTmux), std::move(args), 10s);
  }
  std::string screen(bool with_escapes = false) const {
    std::vector<std::string> args{"capture-pane", "-p", "-t", "top"};
    if (with_escapes) args.push_back("-e");
    return run(args).out_text();
  }
  bool alive() const { return run({"has-session", "-t", "top"}).exit_code == 0; }

 private:
  std::string socket_;
};

TEST(TopTest, RefreshesInPlaceInATerminalWithKeysToSortAndQuit) {
  if (::access(std::string(kTmux).c_str(), X_OK) != 0) GTEST_SKIP() << "tmux is missing (make deps-test installs it)";
  Stack stack = start_with_traffic();
  Tmux tmux;
  RunResult started = tmux.run({"new-session", "-d", "-s", "top", "-x", "140", "-y", "30", "-e", "TERM=xterm-256color",
                                apimeter_bin() + " top --interval 200ms --admin " + admin_of(stack)});
  ASSERT_EQ(started.exit_code, 0) << started.err_text();
  std::string screen;
  ASSERT_TRUE(poll_until([&] { return (screen = tmux.screen()).find("sort: *rps (r)") != std::string::npos; }, kIo))
      << screen;
  EXPECT_EQ(table_routes(split_lines(screen))[0], "/echo") << screen;

  // It refreshes in place: new traffic shows in the request count without any key.
  for (int i = 0; i < 5; ++i) EXPECT_EQ(round_trip(stack.port(), get_request("/echo")).status, 200);
  ASSERT_TRUE(poll_until(
      [&] {
        screen = tmux.screen();
        const auto lines = split_lines(screen);
        return std::any_of(lines.begin(), lines.end(), [](auto& l) { return l.starts_with("/echo") && l.ends_with(" 15"); });
      },
      kIo))
      << screen;
  EXPECT_EQ(std::count(screen.begin(), screen.end(), '\n') <= 30, true);
  EXPECT_EQ(screen.find("apimeter top - shop"), screen.rfind("apimeter top - shop")) << screen;  // drawn once

  // The 503s are red on a colour terminal.
  EXPECT_THAT(tmux.screen(/*with_escapes=*/true), HasSubstr("\x1b[31m"));

  ASSERT_EQ(tmux.run({"send-keys", "-t", "top", "e"}).exit_code, 0);
  ASSERT_TRUE(poll_until([&] { return (screen = tmux.screen()).find("*errors (e)") != std::string::npos; }, kIo))
      << screen;
  EXPECT_EQ(table_routes(split_lines(screen))[0], "/status/{code}") << screen;
  ASSERT_EQ(tmux.run({"send-keys", "-t", "top", "p"}).exit_code, 0);
  ASSERT_TRUE(poll_until([&] { return (screen = tmux.screen()).find("*p95 (p)") != std::string::npos; }, kIo))
      << screen;
  EXPECT_EQ(table_routes(split_lines(screen))[0], "/delay/{ms}") << screen;

  // The proxy going away is a notice over the last figures, not an exit.
  stack.proxy.proc().kill();
  ASSERT_TRUE(poll_until([&] { return (screen = tmux.screen()).find("no answer since") != std::string::npos; }, kIo))
      << screen;
  EXPECT_EQ(table_routes(split_lines(screen))[0], "/delay/{ms}") << screen;
  EXPECT_TRUE(tmux.alive());

  ASSERT_EQ(tmux.run({"send-keys", "-t", "top", "q"}).exit_code, 0);
  EXPECT_TRUE(poll_until([&] { return !tmux.alive(); }, kIo)) << tmux.screen();
}

}  // namespace
}  // namespace apimeter::test
