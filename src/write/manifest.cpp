// ramq-manifest.json: building, writing and verifying (see include/ramq/manifest.h).
#include "ramq/manifest.h"

#include <algorithm>
#include <fstream>
#include <system_error>

#include "ramq/chat_template.h"
#include "ramq/error.h"
#include "ramq/hash.h"
#include "ramq/input_file.h"
#include "ramq/json_io.h"
#include "ramq/version.h"

namespace fs = std::filesystem;

namespace ramq {

namespace {

using json = nlohmann::json;
constexpr const char* kKind = "ramq-manifest";

json digest_json(const FileDigest& d) { return {{"file", d.file}, {"bytes", d.bytes}, {"sha256", d.sha256}}; }

const TensorAnalysis* find_analysis(const ModelAnalysis* a, const std::string& name) {
  if (!a) return nullptr;
  const auto it = std::lower_bound(a->tensors.begin(), a->tensors.end(), name,
                                   [](const TensorAnalysis& t, const std::string& n) { return t.name < n; });
  return it != a->tensors.end() && it->name == name ? &*it : nullptr;
}

json decision_json(const TensorDecision& d, const TensorAnalysis* t) {
  json e = {{"name", d.name}, {"shape", d.shape}, {"numel", d.numel}, {"bits", d.bits()},
            {"group", d.encoding.group()}, {"bytes", d.bytes}, {"reason", d.reason}};
  if (d.encoding.ggml_type()) e["gguf_type"] = d.encoding.name();
  if (!t) return e;
  e["dtype"] = t->source_dtype.empty() ? t->dtype : t->source_dtype;  // what the input file holds
  if (!t->source_dtype.empty()) e["read_as"] = t->dtype;  // block-scaled: the float dtype decoded to
  e["scored"] = t->scored;
  if (!t->scored) e["skip_reason"] = t->skip_reason;
  if (t->raw)
    e["metrics"] = {{"c", t->raw->concentration}, {"kappa", t->raw->kurtosis}, {"delta", t->raw->noise_amp},
                    {"nrmse", t->raw->nrmse},     {"randomized_svd", t->raw->randomized_svd}};
  if (t->scores)
    e["scores"] = {{"s_svd", t->scores->s_svd}, {"s_kurt", t->scores->s_kurt}, {"s_out", t->scores->s_out},
                   {"s_err", t->scores->s_err}, {"S", t->scores->composite}};
  return e;
}

}  // namespace

void write_manifest_text(const fs::path& path, const std::string& text, const std::string& shown) {
  write_text_file(path, text, shown);
}

namespace {

// A file name recorded in a manifest must be a plain name inside the output.
bool plain_name(const std::string& n) {
  return !n.empty() && n != "." && n != ".." && n.find('/') == std::string::npos && n.find('\0') == std::string::npos;
}

// A file name an output directory's manifest may list: a plain name, or a plain name inside the
// additional_chat_templates folder.
bool listed_name(const std::string& n) {
  const std::string folder = std::string(kAdditionalChatTemplatesDir) + "/";
  return plain_name(n) || (n.starts_with(folder) && plain_name(n.substr(folder.size())));
}

// The regular files of the output's additional_chat_templates folder, as "folder/NAME".
std::vector<std::string> chat_template_files(const fs::path& dir) {
  std::vector<std::string> names;
  std::error_code ec;
  const fs::path sub = dir / kAdditionalChatTemplatesDir;
  for (fs::directory_iterator it(sub, ec), end; !ec && it != end; it.increment(ec))
    names.push_back(std::string(kAdditionalChatTemplatesDir) + "/" + it->path().filename().string());
  if (ec) throw Error(sub.string(), "", "cannot list the directory: " + ec.message());
  return names;
}

}  // namespace

fs::path manifest_path_for(const fs::path& output, bool is_directory) {
  fs::path out = output;
  if (!out.has_filename() && out.has_parent_path()) out = out.parent_path();  // "out/" -> "out"
  if (is_directory) return out / kManifestName;
  return out.parent_path() / (out.filename().string() + kManifestSuffix);
}

std::vector<std::string> manifest_command_line(const std::vector<std::string>& argv) {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < argv.size(); ++i) {
    if (i == 0) {
      out.emplace_back("ramq");
      continue;
    }
    // Options of how ramq runs, not of what it writes.
    const std::string& a = argv[i];
    if (a == "--threads" || a == "--progress-interval") {
      ++i;  // and its value
      continue;
    }
    if (a.rfind("--threads=", 0) == 0 || a.rfind("--progress-interval=", 0) == 0 || a == "-q" || a == "--quiet") continue;
    out.push_back(a);
  }
  return out;
}


FileDigest digest_file(const fs::path& path, const std::string& recorded_name) {
  std::error_code ec;
  const auto size = fs::file_size(path, ec);
  if (ec) throw Error(path.string(), "", "cannot get the file size: " + ec.message());
  return {recorded_name, static_cast<std::uint64_t>(size), sha256_file_hex(path)};
}

namespace {
// The last line of a manifest's object: its digest as the final member.
std::string digest_line(const std::string& hex) { return ",\n  \"" + std::string(kManifestDigestKey) + "\": \"" + hex + "\"\n}\n"; }
constexpr std::size_t kHexDigits = 64;
std::string sha256_of_text(const std::string& t) {
  return sha256_hex(std::as_bytes(std::span<const char>(t.data(), t.size())));
}
}  // namespace

std::string manifest_text_with_digest(const json& body) {
  const std::string text = body.dump(2) + "\n";  // ends in "\n}\n"
  return text.substr(0, text.size() - 3) + digest_line(sha256_of_text(text));
}

void check_manifest_digest(const std::string& text, const std::string& shown) {
  const std::size_t line = digest_line(std::string(kHexDigits, '0')).size();
  const std::string stub = digest_line("");
  const std::string prefix = stub.substr(0, stub.size() - 4);  // up to the opening quote of the hex
  if (text.size() < line || text.compare(text.size() - line, prefix.size(), prefix) != 0 ||
      text.compare(text.size() - 4, 4, "\"\n}\n") != 0)
    throw Error(shown, "", "was changed: its last member is not its own digest '" + std::string(kManifestDigestKey) +
                               "' as ramq writes it (re-formatted, or written by an older ramq)");
  const std::string hex = text.substr(text.size() - line + prefix.size(), kHexDigits);
  const std::string body = text.substr(0, text.size() - line) + "\n}\n";
  if (sha256_of_text(body) != hex)
    throw Error(shown, "", "was changed: its bytes do not match its own digest '" + std::string(kManifestDigestKey) + "'");
}

std::string manifest_output_name(const fs::path& output) {
  fs::path out = output;
  if (!out.has_filename() && out.has_parent_path()) out = out.parent_path();
  return out.filename().string();
}

json manifest_json(const ManifestContext& ctx, const std::vector<FileDigest>& outputs) {
  json j;
  j["kind"] = kKind;
  j["ramq_version"] = kVersion;
  j["command_line"] = ctx.command_line;
  if (!ctx.options.is_null()) j["options"] = ctx.options;
  j["model_dir"] = ctx.model_dir;
  auto& in = j["inputs"] = json::array();
  for (const auto& d : ctx.inputs) in.push_back(digest_json(d));
  j["plan_file"] = ctx.plan_file ? digest_json(*ctx.plan_file) : json();
  auto& side = j["side_outputs"] = json::array();
  for (const auto& d : ctx.side_outputs) side.push_back(digest_json(d));
  if (ctx.plan) {
    const Plan& p = *ctx.plan;
    j["plan"] = {{"format", output_format_name(p.format)}, {"policy", plan_policy_label(p)},           {"keep_dtype", p.keep_dtype},
                 {"total_bytes", p.total_bytes}, {"total_params", p.total_params}, {"average_bits", p.average_bits}};
    if (ctx.analysis && ctx.analysis->metric_options) j["metric_options"] = metric_options_to_json(*ctx.analysis->metric_options);
    auto& arr = j["tensors"] = json::array();
    for (const auto& d : p.tensors) {
      json e = decision_json(d, find_analysis(ctx.analysis, d.name));
      const auto w = ctx.written_encodings.find(d.name);
      if (w != ctx.written_encodings.end() && e.value("gguf_type", std::string()) != w->second) {
        if (e.contains("gguf_type")) e["planned_gguf_type"] = e["gguf_type"];
        e["gguf_type"] = w->second;
      }
      arr.push_back(std::move(e));
    }
  }
  auto& out = j["outputs"] = json::array();
  for (const auto& d : outputs) out.push_back(digest_json(d));
  return j;
}

void write_directory_manifest(const fs::path& dir, const ManifestContext& ctx) {
  std::vector<std::string> names;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string n = it->path().filename().string();
    if (n != kManifestName && it->is_regular_file()) names.push_back(n);
    if (n == kAdditionalChatTemplatesDir && it->is_directory())
      for (auto& f : chat_template_files(dir)) names.push_back(std::move(f));
  }
  if (ec) throw Error(dir.string(), "", "cannot list the output directory: " + ec.message());
  std::sort(names.begin(), names.end());
  std::vector<FileDigest> outputs;
  for (const auto& n : names) outputs.push_back(digest_file(dir / n, n));
  write_manifest_text(dir / kManifestName, manifest_text_with_digest(manifest_json(ctx, outputs)),
                      (dir / kManifestName).string());
}

std::string file_manifest_text(const fs::path& file, const std::string& recorded_name, const ManifestContext& ctx) {
  return manifest_text_with_digest(manifest_json(ctx, {digest_file(file, recorded_name)}));
}

namespace {

// A path verify reads must be the file itself: a symbolic link could point anywhere.
void require_plain_file(const fs::path& p, const std::string& what) {
  const std::string kind = describe_file_type(p, /*follow_links=*/false);
  if (kind == "missing") throw Error(p.string(), "", what + " is missing");
  if (kind != "a regular file") throw Error(p.string(), "", what + " is " + kind + ", not a regular file; verify does not follow links");
}

// The manifest's JSON after its exact bytes are checked against its digest.
json read_checked_manifest(const fs::path& manifest) {
  const std::string mf = manifest.string();
  require_plain_file(manifest, "the manifest");
  const std::string text = read_regular_file(manifest, kMaxJsonInputBytes);
  const json j = parse_json_text(text, mf);  // duplicate keys are refused here
  if (!j.is_object() || !j.contains("kind") || !j["kind"].is_string() || j["kind"] != kKind)
    throw Error(mf, "", "not a ramq manifest (kind is not \"" + std::string(kKind) + "\")");
  if (!j.contains(kManifestDigestKey) || !j[kManifestDigestKey].is_string())
    throw Error(mf, "", "has no '" + std::string(kManifestDigestKey) + "' (its own digest)");
  check_manifest_digest(text, mf);
  return j;
}

void check_listed_file(const fs::path& path, std::int64_t bytes, const std::string& sha) {
  const std::string shown = path.string();
  require_plain_file(path, "listed in the manifest, but it");
  std::error_code ec;
  const auto size = fs::file_size(path, ec);
  if (ec || bytes < 0 || static_cast<std::uint64_t>(size) != static_cast<std::uint64_t>(bytes))
    throw Error(shown, "", "size " + std::to_string(size) + " bytes differs from the manifest's " + std::to_string(bytes));
  if (sha256_file_hex(path) != sha) throw Error(shown, "", "sha256 differs from the manifest: the file was changed");
}

}  // namespace

VerifyReport verify_output(const fs::path& given) {
  fs::path output = given;
  if (!output.has_filename() && output.has_parent_path()) output = output.parent_path();  // "out/" -> "out"
  const std::string kind = describe_file_type(output, /*follow_links=*/false);
  if (kind == "missing") throw Error(output.string(), "", "does not exist");
  if (kind == "a symbolic link") throw Error(output.string(), "", "is a symbolic link; verify checks the output itself, not a link to it");
  VerifyReport rep;
  fs::path base = output;  // the directory, or the output file
  const bool is_dir = kind == "a directory";
  const std::string name = output.filename().string();
  if (is_dir) {
    rep.manifest = manifest_path_for(output, true);
  } else if (name.size() > std::string(kManifestSuffix).size() && name.ends_with(kManifestSuffix)) {
    rep.manifest = output;
    base = output.parent_path() / name.substr(0, name.size() - std::string(kManifestSuffix).size());
  } else {
    rep.manifest = manifest_path_for(output, false);
  }
  const std::string mf = rep.manifest.string();
  if (describe_file_type(rep.manifest, false) == "missing")
    throw Error(mf, "", "missing: the output has no manifest (was it written by ramq quantize?)");
  const json j = read_checked_manifest(rep.manifest);
  JsonReader r{mf, ""};
  const auto& outs = r.field(j, "outputs");
  if (!outs.is_array() || outs.empty()) r.fail("field 'outputs' must be a non-empty array");
  if (!is_dir && outs.size() != 1) r.fail("a file output's manifest must list exactly one output file");
  std::vector<std::string> listed;
  for (const auto& e : outs) {
    const std::string file = r.string(e, "file");
    if (is_dir && !listed_name(file)) r.fail("lists a bad output file name '" + file + "'");
    if (!is_dir && file != base.filename().string())
      throw Error(base.string(), "", "was renamed: its manifest records it as '" + file +
                                         "' (rename both back, or quantize again under the new name)");
    check_listed_file(is_dir ? base / file : base, r.integer(e, "bytes"), r.string(e, "sha256"));
    listed.push_back(file);
    ++rep.files;
  }
  if (is_dir) {
    std::sort(listed.begin(), listed.end());
    std::error_code ec;
    for (fs::directory_iterator it(base, ec), end; !ec && it != end; it.increment(ec)) {
      const std::string n = it->path().filename().string();
      std::vector<std::string> present = {n};
      if (n == kAdditionalChatTemplatesDir && it->is_directory(ec)) present = chat_template_files(base);
      for (const auto& p : present)
        if (p != kManifestName && !std::binary_search(listed.begin(), listed.end(), p))
          throw Error((base / p).string(), "", "is in the output but not listed in the manifest");
    }
  }
  return rep;
}

}  // namespace ramq
