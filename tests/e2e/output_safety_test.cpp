// ramq never destroys what the user has: outputs that would land on, inside or around an input,
// on a foreign file or directory, a link or a special file are refused with one line, exit 1, and
// every byte of the input and of the foreign data is checked unchanged (hashes before and after).
// Also: special files as inputs (no hang, no endless read), values a GGUF type cannot hold, and
// two runs writing the same GGUF at once.
#include <gtest/gtest.h>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <map>
#include <thread>

#include "ramq/hash.h"
#include "support/run_ramq.h"
#include "support/synthetic_llama.h"

namespace fs = std::filesystem;
using ramq::testkit::run_program;
using ramq::testkit::run_ramq;
using ramq::testkit::RunResult;
using ramq::testkit::TempDir;

namespace {

// Every entry below `root` (recursively): regular files by content hash, links by target, other
// kinds by their type; the root itself when it is not a directory.
std::map<std::string, std::string> snapshot(const fs::path& root) {
  std::map<std::string, std::string> m;
  auto describe = [](const fs::path& p) -> std::string {
    const auto st = fs::symlink_status(p);
    if (fs::is_symlink(st)) return "link:" + fs::read_symlink(p).string();
    if (fs::is_regular_file(st)) return "file:" + ramq::sha256_file_hex(p);
    if (fs::is_directory(st)) return "dir";
    return "special:" + std::to_string(static_cast<int>(st.type()));
  };
  if (!fs::exists(fs::symlink_status(root))) return m;
  m[""] = describe(root);
  if (fs::is_directory(fs::symlink_status(root)))
    for (const auto& e : fs::recursive_directory_iterator(root)) m[fs::relative(e.path(), root).string()] = describe(e.path());
  return m;
}

// A small complete Llama checkpoint (every tensor llama.cpp needs) in `dir`.
fs::path make_model(const fs::path& dir, double qk_scale = 2.0, double embed_sd = 1.0) {
  ramq::testkit::SyntheticLlama s;
  s.layers = 1;
  s.vocab = 256;
  s.ffn = 256;
  s.dtype = ramq::DType::F32;
  s.qk_scale = qk_scale;
  s.embed_sd = embed_sd;
  ramq::testkit::write_synthetic_llama(dir, s);
  return dir;
}

// Runs ramq with a time limit, so a hang fails the test instead of stalling the suite.
RunResult run_bounded(const std::vector<std::string>& args) {
  std::vector<std::string> a = {"30", RAMQ_BINARY};
  a.insert(a.end(), args.begin(), args.end());
  return run_program("/usr/bin/timeout", a);
}

// Exit 1, one line on stderr naming `named` and containing `why`.
void expect_refusal(const RunResult& r, const std::string& named, const std::string& why, const std::string& label) {
  EXPECT_EQ(r.status, 1) << label << ": " << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << label << ": one line expected: " << r.err;
  EXPECT_EQ(r.err.rfind("ramq: error: ", 0), 0u) << label << ": " << r.err;
  EXPECT_NE(r.err.find(named), std::string::npos) << label << ": '" << named << "' not in: " << r.err;
  EXPECT_NE(r.err.find(why), std::string::npos) << label << ": '" << why << "' not in: " << r.err;
}

struct Fixture {
  TempDir tmp{"out-safety"};
  fs::path model = make_model(tmp / "model");
};

std::vector<std::string> gguf_args(const fs::path& model, const fs::path& out) {
  return {"quantize", model.string(), "--format", "gguf", "--policy", "uniform", "--bits", "8", "-o", out.string()};
}
std::vector<std::string> mlx_args(const fs::path& model, const fs::path& out) {
  return {"quantize", model.string(), "--format", "mlx", "--policy", "uniform", "--bits", "8", "-o", out.string()};
}

void make_fifo(const fs::path& p) { ASSERT_EQ(::mkfifo(p.c_str(), 0600), 0); }

}  // namespace

TEST(OutputSafety, OutputsOnOrInsideTheInputAreRefused) {
  Fixture f;
  const auto before = snapshot(f.model);
  const fs::path w = f.model / "model.safetensors";
  struct Case {
    std::string label;
    std::vector<std::string> args;
    std::string named;
    std::string why;
  };
  const std::vector<Case> cases = {
      {"gguf onto the weights", gguf_args(f.model, w), w.string(), "an input of this run"},
      {"mlx onto the model directory", mlx_args(f.model, f.model), f.model.string(), "an input of this run"},
      {"analysis onto config.json", {"analyze", f.model.string(), "-o", (f.model / "config.json").string()}, "config.json", "input"},
      {"new file inside the model", gguf_args(f.model, f.model / "new.gguf"), "new.gguf", "lies inside"},
      {"--save-plan onto config.json",
       [&] { auto a = mlx_args(f.model, f.tmp / "o"); a.insert(a.end(), {"--save-plan", (f.model / "config.json").string()}); return a; }(),
       "config.json", "--save-plan"},
      {"--save-analysis inside the model",
       [&] { auto a = mlx_args(f.model, f.tmp / "o"); a.insert(a.end(), {"--save-analysis", (f.model / "a.json").string()}); return a; }(),
       "a.json", "--save-analysis"},
      {"--report onto the weights",
       [&] { auto a = gguf_args(f.model, f.tmp / "o.gguf"); a.insert(a.end(), {"--report", w.string()}); return a; }(),
       w.string(), "--report"},
      {"output directory holding the input", mlx_args(f.model, f.tmp.path()), f.tmp.path().string(), "holds"},
      {"through a link to the model",
       [&] { fs::create_directory_symlink(f.model, f.tmp / "alias"); return gguf_args(f.model, f.tmp / "alias" / "x.gguf"); }(),
       "x.gguf", "lies inside"},
      {"--force does not allow it",
       [&] { auto a = gguf_args(f.model, w); a.push_back("--force"); return a; }(), w.string(), "an input of this run"},
  };
  for (const auto& c : cases) {
    expect_refusal(run_ramq(c.args), c.named, c.why, c.label);
    EXPECT_EQ(snapshot(f.model), before) << c.label << ": the input model changed";
  }
  EXPECT_FALSE(fs::exists(f.tmp / "o")) << "nothing written";
}

TEST(OutputSafety, ForeignDirectoriesAreNeverReplaced) {
  Fixture f;
  const fs::path other = make_model(f.tmp / "other-model");
  ramq::testkit::write_file(other / "notes.txt", "my notes");
  const fs::path project = f.tmp / "project";
  fs::create_directories(project / "src");
  ramq::testkit::write_file(project / "config.json", "{}");
  ramq::testkit::write_file(project / "src" / "main.cpp", "int main() {}");
  for (const fs::path& victim : {other, project}) {
    const auto before = snapshot(victim);
    for (const bool force : {false, true}) {
      auto args = mlx_args(f.model, victim);
      if (force) args.push_back("--force");
      expect_refusal(run_ramq(args), victim.string(), "ramq did not write", victim.string());
      EXPECT_EQ(snapshot(victim), before) << victim << " changed";
    }
  }
}

TEST(OutputSafety, OwnOutputsAreReplacedButNotWithForeignFilesInside) {
  Fixture f;
  const fs::path out = f.tmp / "out";
  ASSERT_EQ(run_ramq(mlx_args(f.model, out)).status, 0);
  ASSERT_EQ(run_ramq(mlx_args(f.model, out)).status, 0) << "a ramq output directory is replaced";
  ramq::testkit::write_file(out / "notes.txt", "keep me");
  const auto before = snapshot(out);
  auto args = mlx_args(f.model, out);
  args.push_back("--force");
  expect_refusal(run_ramq(args), "notes.txt", "ramq did not write", "user file inside an output");
  EXPECT_EQ(snapshot(out), before);

  const fs::path gguf = f.tmp / "m.gguf";
  ASSERT_EQ(run_ramq(gguf_args(f.model, gguf)).status, 0);
  EXPECT_EQ(run_ramq(gguf_args(f.model, gguf)).status, 0) << "a GGUF its manifest names is replaced";
  EXPECT_EQ(run_ramq({"verify", gguf.string()}).status, 0);
}

TEST(OutputSafety, ForeignFilesNeedForce) {
  Fixture f;
  const fs::path gguf = f.tmp / "theirs.gguf", plan = f.tmp / "plan.json", html = f.tmp / "r.html";
  ramq::testkit::write_file(gguf, "GGUF someone else's model");
  ramq::testkit::write_file(plan, R"({"mine": true})");
  const auto before = snapshot(f.tmp.path());
  expect_refusal(run_ramq(gguf_args(f.model, gguf)), gguf.string(), "--force", "foreign gguf");
  expect_refusal(run_ramq({"analyze", f.model.string(), "-o", plan.string()}), plan.string(), "--force", "foreign json");
  EXPECT_EQ(snapshot(f.tmp.path()), before);
  auto args = gguf_args(f.model, gguf);
  args.push_back("--force");
  const auto r = run_ramq(args);
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(run_ramq({"verify", gguf.string()}).status, 0);
  // A report replaces an earlier report of ramq's (its generator tag), not another page.
  ASSERT_EQ(run_ramq({"report", gguf.string(), "-o", html.string()}).status, 0);
  EXPECT_EQ(run_ramq({"report", gguf.string(), "-o", html.string()}).status, 0);
  ramq::testkit::write_file(html, "<html>someone's page</html>");
  expect_refusal(run_ramq({"report", gguf.string(), "-o", html.string()}), html.string(), "--force", "foreign html");
}

TEST(OutputSafety, LinksAndSpecialFilesAreNeverOutputs) {
  Fixture f;
  const fs::path fifo = f.tmp / "fifo", target = f.tmp / "target.gguf", link = f.tmp / "link.gguf";
  make_fifo(fifo);
  ramq::testkit::write_file(target, "precious");
  fs::create_symlink(target, link);
  const int sock = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  const std::string sock_path = (f.tmp / "sock").string();
  ASSERT_LT(sock_path.size(), sizeof(addr.sun_path));
  std::copy(sock_path.begin(), sock_path.end(), addr.sun_path);
  ASSERT_EQ(::bind(sock, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  std::vector<std::pair<fs::path, std::string>> cases = {{fifo, "FIFO"}, {link, "symbolic link"}, {sock_path, "socket"}};
  if (::geteuid() == 0 && ::mknod((f.tmp / "null").c_str(), S_IFCHR | 0600, makedev(1, 3)) == 0)
    cases.push_back({f.tmp / "null", "character device"});
  const auto before = snapshot(f.tmp.path());
  for (const auto& [path, kind] : cases) {
    for (const bool force : {false, true}) {
      auto args = gguf_args(f.model, path);
      if (force) args.push_back("--force");
      expect_refusal(run_bounded(args), path.string(), kind, kind);
      expect_refusal(run_bounded({"analyze", f.model.string(), "-o", path.string()}), path.string(), kind, kind);
    }
  }
  EXPECT_EQ(snapshot(f.tmp.path()), before);
  ::close(sock);
}

TEST(OutputSafety, OutputsOfOneRunMustBeDistinct) {
  Fixture f;
  const fs::path a = f.tmp / "a.json", g = f.tmp / "m.gguf";
  auto same = mlx_args(f.model, f.tmp / "o");
  same.insert(same.end(), {"--save-plan", a.string(), "--save-analysis", a.string()});
  expect_refusal(run_ramq(same), a.string(), "--save-plan", "same side outputs");
  auto sidecar = gguf_args(f.model, g);
  sidecar.insert(sidecar.end(), {"--save-plan", g.string() + ".ramq-manifest.json"});
  expect_refusal(run_ramq(sidecar), "ramq-manifest.json", "its manifest", "side output on the manifest");
  auto inside = mlx_args(f.model, f.tmp / "o");
  inside.insert(inside.end(), {"--save-plan", (f.tmp / "o" / "plan.json").string()});
  expect_refusal(run_ramq(inside), "plan.json", "nested", "side output inside the MLX output");
  EXPECT_FALSE(fs::exists(f.tmp / "o"));
  EXPECT_FALSE(fs::exists(g));
}

TEST(InputSafety, SpecialFilesAsInputsFailAtOnce) {
  Fixture f;
  const fs::path fifo = f.tmp / "fifo", dir = f.tmp / "a-dir";
  make_fifo(fifo);
  fs::create_directories(dir);
  // A model whose only shard is a FIFO.
  const fs::path fifo_model = f.tmp / "fifo-model";
  fs::create_directories(fifo_model);
  fs::copy_file(f.model / "config.json", fifo_model / "config.json");
  make_fifo(fifo_model / "model.safetensors");
  const fs::path gguf = f.tmp / "m.gguf";
  ASSERT_EQ(run_ramq(gguf_args(f.model, gguf)).status, 0);
  const std::string m = f.model.string(), g = gguf.string(), fs_ = fifo.string(), d = dir.string();
  struct Case {
    std::vector<std::string> args;
    std::string named, why;
  };
  const std::vector<Case> cases = {
      {gguf_args(fifo_model, f.tmp / "x.gguf"), "model.safetensors", "FIFO"},
      {{"quantize", m, "--plan", fs_, "-o", (f.tmp / "x").string()}, fs_, "FIFO"},
      {{"plan", fs_, "-o", (f.tmp / "p.json").string()}, fs_, "FIFO"},
      {{"eval", g, "--tokens", fs_}, fs_, "FIFO"},
      {{"eval", g, "--reference", m, "--text", fs_}, fs_, "FIFO"},
      {{"inspect", fs_}, fs_, "FIFO"},
      {{"verify", g + ".ramq-manifest.json"}, g, ""},  // control: the real manifest verifies (status 0)
      {{"report", g, "--manifest", fs_, "-o", (f.tmp / "r.html").string()}, fs_, "FIFO"},
      {{"report", g, "--eval", fs_, "-o", (f.tmp / "r.html").string()}, fs_, "FIFO"},
      {{"eval", g, "--tokens", "/dev/zero"}, "/dev/zero", "character device"},
      {{"eval", g, "--reference", m, "--text", "/dev/urandom"}, "/dev/urandom", "character device"},
      {{"eval", g, "--tokens", d}, d, "directory"},
      {{"eval", g, "--reference", m, "--text", d}, d, "directory"},
  };
  for (const auto& c : cases) {
    const auto r = run_bounded(c.args);
    if (c.why.empty()) {
      EXPECT_EQ(r.status, 0) << r.err;
      continue;
    }
    expect_refusal(r, c.named, c.why, c.args[0] + " " + c.named);
  }
  // The manifest itself as a FIFO: verify names it and does not wait.
  fs::rename(gguf.string() + ".ramq-manifest.json", f.tmp / "saved");
  make_fifo(gguf.string() + ".ramq-manifest.json");
  expect_refusal(run_bounded({"verify", g}), "ramq-manifest.json", "FIFO", "verify with a FIFO manifest");
}

TEST(ValueRange, GgufRefusesValuesItsTypesCannotHoldLikeMlx) {
  TempDir tmp("value-range");
  struct Case {
    std::string label;
    fs::path model;
    std::string bits;  // uniform bits: 16 keeps float (F16 for an F32 source)
    std::string tensor;
  };
  const std::vector<Case> cases = {
      {"embedding beyond F16", make_model(tmp / "big-embed", 2.0, 1e5), "8", "model.embed_tokens.weight"},
      {"weights beyond any block scale", make_model(tmp / "huge", 1e31), "8", "self_attn"},
      {"Q8_0 scale beyond F16", make_model(tmp / "q8-scale", 2e8), "8", "self_attn"},
      {"Q4_K minimum beyond F16", make_model(tmp / "q4-scale", 1e8), "4", "self_attn"},
      {"projection beyond F16", make_model(tmp / "f16", 2e6), "16", "self_attn"},
  };
  for (const auto& c : cases) {
    for (const char* format : {"gguf", "mlx"}) {
      const fs::path out = tmp / (std::string("out.") + format);
      const fs::path plan = tmp / "plan.json";
      const auto r = run_ramq({"quantize", c.model.string(), "--format", format, "--policy", "uniform", "--bits", c.bits,
                               "-o", out.string(), "--save-plan", plan.string()});
      expect_refusal(r, c.tensor, "F16", c.label + " (" + format + ")");
      EXPECT_FALSE(fs::exists(out)) << c.label;
      EXPECT_FALSE(fs::exists(plan)) << c.label << ": a failed run leaves no --save-plan";
    }
  }
}

// Two runs writing the same GGUF at once: each round ends with one run's complete output, which
// verifies, and never a file of one run beside the manifest of the other.
TEST(ConcurrentWriters, SameGgufThirtyRounds) {
  Fixture f;
  const fs::path out = f.tmp / "m.gguf";
  const fs::path solo8 = f.tmp / "solo8.gguf", solo4 = f.tmp / "solo4.gguf";
  auto args_for = [&](const fs::path& o, const char* bits) {
    return std::vector<std::string>{"--threads", "1", "quantize", f.model.string(), "--format", "gguf",
                                    "--policy", "uniform", "--bits", bits, "-o", o.string()};
  };
  ASSERT_EQ(run_ramq(args_for(solo8, "8")).status, 0);
  ASSERT_EQ(run_ramq(args_for(solo4, "4")).status, 0);
  const std::string h8 = ramq::sha256_file_hex(solo8), h4 = ramq::sha256_file_hex(solo4);
  ASSERT_NE(h8, h4);
  for (int round = 0; round < 30; ++round) {
    RunResult a, b;
    std::thread ta([&] { a = run_ramq(args_for(out, "8")); });
    std::thread tb([&] { b = run_ramq(args_for(out, "4")); });
    ta.join();
    tb.join();
    EXPECT_EQ(a.status, 0) << "round " << round << ": " << a.err;
    EXPECT_EQ(b.status, 0) << "round " << round << ": " << b.err;
    const auto v = run_ramq({"verify", out.string()});
    EXPECT_EQ(v.status, 0) << "round " << round << ": " << v.err;
    const std::string h = ramq::sha256_file_hex(out);
    EXPECT_TRUE(h == h8 || h == h4) << "round " << round;
    for (const auto& e : fs::directory_iterator(f.tmp.path()))
      EXPECT_EQ(e.path().filename().string().find("ramq-tmp"), std::string::npos) << e.path();
  }
}

TEST(ManifestHonesty, VerifyCatchesWhatTheDigestOfParsedJsonMissed) {
  Fixture f;
  const fs::path gguf = f.tmp / "m.gguf", mlx = f.tmp / "mlx";
  ASSERT_EQ(run_ramq(gguf_args(f.model, gguf)).status, 0);
  ASSERT_EQ(run_ramq(mlx_args(f.model, mlx)).status, 0);
  const fs::path sidecar = gguf.string() + ".ramq-manifest.json";
  const std::string original = ramq::testkit::slurp(sidecar);
  auto restore = [&] { ramq::testkit::write_file(sidecar, original); };

  // Re-indented: the same JSON, other bytes.
  std::string reindented = original;
  for (std::size_t p = 0; (p = reindented.find("\n  \"", p)) != std::string::npos; p += 4) reindented.replace(p, 3, "\n   ");
  ramq::testkit::write_file(sidecar, reindented);
  expect_refusal(run_ramq({"verify", gguf.string()}), "ramq-manifest.json", "was changed", "re-indented manifest");
  // A forged duplicate key ahead of the real one.
  std::string dup = original;
  dup.insert(1, "\n  \"ramq_version\": \"9.9.9\",");
  ramq::testkit::write_file(sidecar, dup);
  expect_refusal(run_ramq({"verify", gguf.string()}), "ramq-manifest.json", "twice", "duplicate key");
  restore();
  ASSERT_EQ(run_ramq({"verify", gguf.string()}).status, 0);

  // Renamed together with its manifest.
  fs::rename(gguf, f.tmp / "renamed.gguf");
  fs::rename(sidecar, f.tmp / "renamed.gguf.ramq-manifest.json");
  expect_refusal(run_ramq({"verify", (f.tmp / "renamed.gguf").string()}), "renamed.gguf", "was renamed", "renamed");

  // A weight file replaced by a symbolic link to an identical copy.
  const fs::path shard = mlx / "model.safetensors";
  fs::copy_file(shard, f.tmp / "copy.safetensors");
  fs::remove(shard);
  fs::create_symlink(f.tmp / "copy.safetensors", shard);
  expect_refusal(run_ramq({"verify", mlx.string()}), "model.safetensors", "symbolic link", "symlinked shard");
}

TEST(ManifestHonesty, PlanCannotClaimAnEncodingTheWriterDoesNotUse) {
  Fixture f;
  const fs::path plan = f.tmp / "plan.json", out = f.tmp / "m.gguf";
  ASSERT_EQ(run_ramq({"plan", (f.tmp / "none").string(), "-o", plan.string()}).status, 1);  // no analysis: refused
  auto args = gguf_args(f.model, f.tmp / "first.gguf");
  args.insert(args.end(), {"--save-plan", plan.string()});
  ASSERT_EQ(run_ramq(args).status, 0);
  std::string text = ramq::testkit::slurp(plan);
  const auto at = text.find("\"name\": \"model.norm.weight\"");
  ASSERT_NE(at, std::string::npos);
  const auto type_at = text.find("\"gguf_type\": \"F32\"", text.rfind('{', at));
  ASSERT_LT(type_at, at) << "the norm's entry records its F32 type";
  text.replace(type_at, 18, "\"gguf_type\": \"Q8_0\"");
  ramq::testkit::write_file(plan, text);
  const auto r = run_ramq({"quantize", f.model.string(), "--format", "gguf", "--plan", plan.string(), "-o", out.string()});
  expect_refusal(r, "model.norm.weight", "written as F32", "norm at Q8_0");
  EXPECT_FALSE(fs::exists(out));
}
