// general.* naming keys as llama.cpp's converter writes them (write/gguf_naming.h).
//
// Sources, in the converter's order of precedence (a value once set is kept), with the line
// numbers of gguf-py/gguf/metadata.py in the llama.cpp source at /work/llsrc:
//  1. the model card's front matter (apply_metadata_heuristic, lines 370-560): name, author, ...
//     then the same with "model_" in front, model_creator (author), model_type (basename);
//     base_model / base_models / base_model_sources and datasets / dataset / dataset_sources
//     (the first key present, a string or a list of ids, URLs or mappings); license,
//     license_name, license_link; tags plus pipeline_tag; languages plus language;
//  2. config.json's _name_or_path when it holds at most one '/' (lines 565-584);
//  3. the directory's name (lines 588-602);
//  4. the size label from the parameter count (conversion/base.py prepare_metadata).
// Written by set_gguf_meta_model (lines 634-731) through gguf_writer.py's add_string and
// add_array, which skip empty strings and empty lists; base_model.count and dataset.count are
// written even when 0.
//
// Where the converter stops with an exception, ramq leaves the value out and says so in the note:
// a value that is not a string where a string goes (`version: 1.0` is a float in YAML), a list
// element that is not a string in tags or languages (the converter would write an array of
// another type or fail), a license list with a non-string.
#include "write/gguf_naming.h"

#include <algorithm>
#include <regex>
#include <set>
#include <string_view>

#include "write/gguf_model_card.h"

namespace ramq {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

using Field = std::optional<std::string>;
using Entry = std::vector<std::pair<std::string, std::string>>;  // a base model or dataset: key, value

// The nine keys of a base model or dataset entry, in set_gguf_meta_model's order.
constexpr const char* kEntryKeys[] = {"name", "author", "version", "organization", "description",
                                      "url", "doi", "uuid", "repo_url"};

struct Metadata {
  Field name, author, version, organization, finetune, basename, description, quantized_by, size_label;
  Field license, license_name, license_link, url, doi, uuid, repo_url;
  Field source_url, source_doi, source_uuid, source_repo_url;
  std::optional<std::vector<Entry>> base_models, datasets;
  std::optional<std::vector<json>> tags, languages;
};

class Notes {
 public:
  void add(const std::string& what) {
    if (seen_.insert(what).second) text_ += (text_.empty() ? "" : "; ") + what;
  }
  const std::string& text() const { return text_; }

 private:
  std::set<std::string> seen_;
  std::string text_;
};

std::string describe(const json& v) { return v.is_binary() ? "a YAML value of another type" : v.dump(); }

// use_model_card_metadata (lines 372-374): card[key] into `field` unless it is set. A null value
// leaves it unset; a value that is not a string is left out.
void use_card(Field& field, const json& card, const char* key, Notes& notes) {
  const auto it = card.find(key);
  if (field || it == card.end() || it->is_null()) return;
  if (it->is_string()) {
    field = it->get<std::string>();
  } else if (std::string_view(key) == "license" && it->is_array() &&
             std::all_of(it->begin(), it->end(), [](const json& e) { return e.is_string(); })) {
    std::string joined;  // set_gguf_meta_model line 658: ",".join(self.license)
    for (const auto& e : *it) joined += (joined.empty() ? "" : ",") + e.get<std::string>();
    field = joined;
  } else {
    notes.add(std::string("README.md '") + key + "' is not a string (" + describe(*it) + "), left out");
  }
}

// use_array_model_card_metadata (lines 376-391): appends a string or a list's elements.
void use_card_array(std::optional<std::vector<json>>& field, const json& card, const char* key) {
  const auto it = card.find(key);
  if (it == card.end() || it->is_null()) return;
  if (!field) field.emplace();
  if (it->is_string()) field->push_back(*it);
  if (it->is_array()) field->insert(field->end(), it->begin(), it->end());
}

void set_if_unset(Field& field, const Field& value) {
  if (!field && value) field = value;
}
Field title_of(const Field& v) { return v ? Field(id_to_title(*v)) : std::nullopt; }

// One base model or dataset from an id, a URL or a mapping (lines 450-492, 508-550).
Entry source_entry(const json& id, std::int64_t total_params, const char* what, Notes& notes) {
  Entry e;
  if (id.is_object()) {
    for (const char* k : kEntryKeys) {
      const auto it = id.find(k);
      if (it == id.end() || it->is_null()) continue;
      if (it->is_string()) e.emplace_back(k, it->get<std::string>());
      else notes.add(std::string("README.md ") + what + " '" + k + "' is not a string (" + describe(*it) + "), left out");
    }
    return e;
  }
  if (!id.is_string()) {  // the converter logs an error and counts an empty entry
    notes.add(std::string("README.md ") + what + " entry " + describe(id) + " is not an id, a URL or a mapping");
    return e;
  }
  const std::string s = id.get<std::string>();
  const bool url = s.starts_with("http://") || s.starts_with("https://") || s.starts_with("ssh://");
  std::smatch m;
  if (url && !(s.find("huggingface.co") != std::string::npos && s.size() <= 512 &&  // bounded: regex recursion
               std::regex_match(s, m, std::regex(R"(https?://huggingface.co/([^/]+/[^/]+))")))) {
    e.emplace_back("repo_url", s);
    return e;
  }
  const ModelIdComponents c = model_id_components(url ? m[1].str() : s, total_params);
  if (c.full_name) e.emplace_back("name", id_to_title(*c.full_name));
  if (c.organization) e.emplace_back("organization", id_to_title(*c.organization));
  if (c.version) e.emplace_back("version", *c.version);
  if (url) e.emplace_back("repo_url", s);
  else if (c.organization && c.full_name) e.emplace_back("repo_url", "https://huggingface.co/" + *c.organization + "/" + *c.full_name);
  return e;
}

// base_model (or datasets): the first of `keys` present in the card.
std::optional<std::vector<Entry>> card_sources(const json& card, std::initializer_list<const char*> keys,
                                               std::int64_t total_params, const char* what, Notes& notes) {
  for (const char* k : keys) {
    const auto it = card.find(k);
    if (it == card.end()) continue;
    std::vector<Entry> entries;
    if (it->is_string()) entries.push_back(source_entry(*it, total_params, what, notes));
    if (it->is_array())
      for (const auto& id : *it) entries.push_back(source_entry(id, total_params, what, notes));
    return entries;
  }
  return std::nullopt;
}

void apply_card(Metadata& md, const json& card, std::int64_t total_params, Notes& notes) {
  struct Use {
    Field Metadata::*field;
    const char* key;
  };
  static const Use kUses[] = {
      {&Metadata::name, "name"}, {&Metadata::author, "author"}, {&Metadata::version, "version"},
      {&Metadata::organization, "organization"}, {&Metadata::description, "description"},
      {&Metadata::finetune, "finetune"}, {&Metadata::basename, "basename"}, {&Metadata::size_label, "size_label"},
      {&Metadata::source_url, "url"}, {&Metadata::source_doi, "doi"}, {&Metadata::source_uuid, "uuid"},
      {&Metadata::source_repo_url, "repo_url"},
      {&Metadata::name, "model_name"}, {&Metadata::author, "model_author"}, {&Metadata::version, "model_version"},
      {&Metadata::organization, "model_organization"}, {&Metadata::description, "model_description"},
      {&Metadata::finetune, "model_finetune"}, {&Metadata::basename, "model_basename"},
      {&Metadata::size_label, "model_size_label"}, {&Metadata::source_url, "model_url"},
      {&Metadata::source_doi, "model_doi"}, {&Metadata::source_uuid, "model_uuid"},
      {&Metadata::source_repo_url, "model_repo_url"},
      {&Metadata::author, "model_creator"}, {&Metadata::basename, "model_type"},
  };
  for (const auto& u : kUses) use_card(md.*u.field, card, u.key, notes);
  md.base_models = card_sources(card, {"base_model", "base_models", "base_model_sources"}, total_params, "base_model", notes);
  md.datasets = card_sources(card, {"datasets", "dataset", "dataset_sources"}, total_params, "dataset", notes);
  use_card(md.license, card, "license", notes);
  use_card(md.license_name, card, "license_name", notes);
  use_card(md.license_link, card, "license_link", notes);
  use_card_array(md.tags, card, "tags");
  use_card_array(md.tags, card, "pipeline_tag");
  use_card_array(md.languages, card, "languages");
  use_card_array(md.languages, card, "language");
}

// Lines 572-584 and 590-602: the parts of a model id, where still unset.
void apply_model_id(Metadata& md, const std::string& id, std::int64_t total_params) {
  const ModelIdComponents c = model_id_components(id, total_params);
  set_if_unset(md.name, title_of(c.full_name));
  set_if_unset(md.organization, title_of(c.organization));
  set_if_unset(md.basename, c.basename);
  set_if_unset(md.finetune, c.finetune);
  set_if_unset(md.version, c.version);
  set_if_unset(md.size_label, c.size_label);
}

// set_gguf_meta_model (lines 634-731).
std::vector<GgufKV> meta_model_kvs(const Metadata& md, Notes& notes) {
  std::vector<GgufKV> kvs;
  const auto str = [&](const std::string& key, const Field& v) {
    if (v && !v->empty()) kvs.push_back({key, GgufValue::str(*v)});
  };
  const std::pair<const char*, const Field*> scalars[] = {
      {"general.name", &md.name}, {"general.author", &md.author}, {"general.version", &md.version},
      {"general.organization", &md.organization}, {"general.finetune", &md.finetune},
      {"general.basename", &md.basename}, {"general.description", &md.description},
      {"general.quantized_by", &md.quantized_by}, {"general.size_label", &md.size_label},
      {"general.license", &md.license}, {"general.license.name", &md.license_name},
      {"general.license.link", &md.license_link}, {"general.url", &md.url}, {"general.doi", &md.doi},
      {"general.uuid", &md.uuid}, {"general.repo_url", &md.repo_url}, {"general.source.url", &md.source_url},
      {"general.source.doi", &md.source_doi}, {"general.source.uuid", &md.source_uuid},
      {"general.source.repo_url", &md.source_repo_url},
  };
  for (const auto& [key, v] : scalars) str(key, *v);
  const auto sources = [&](const std::string& prefix, const std::optional<std::vector<Entry>>& entries) {
    if (!entries) return;
    kvs.push_back({prefix + ".count", GgufValue::u32(static_cast<std::uint32_t>(entries->size()))});
    for (std::size_t i = 0; i < entries->size(); ++i)
      for (const char* k : kEntryKeys)
        for (const auto& [ek, ev] : (*entries)[i])
          if (ek == k) str(prefix + "." + std::to_string(i) + "." + k, ev);
  };
  sources("general.base_model", md.base_models);
  sources("general.dataset", md.datasets);
  const auto strings = [&](const char* key, const std::optional<std::vector<json>>& values) {
    if (!values) return;
    std::vector<std::string> kept;
    for (const auto& v : *values) {
      if (v.is_string()) kept.push_back(v.get<std::string>());
      else notes.add(std::string("README.md ") + (key + 8) + " element " + describe(v) + " is not a string, left out");
    }
    if (!kept.empty()) kvs.push_back({key, GgufValue::strings(std::move(kept))});
  };
  strings("general.tags", md.tags);
  strings("general.languages", md.languages);
  return kvs;
}

}  // namespace

GgufNaming gguf_naming(const GgufNamingInputs& in) {
  const std::int64_t total = in.counts.total;
  Notes notes;
  Metadata md;
  if (in.card.is_object()) apply_card(md, in.card, total, notes);
  if (const auto it = in.config.find("_name_or_path"); in.config.is_object() && it != in.config.end() && it->is_string()) {
    const std::string id = it->get<std::string>();
    if (std::count(id.begin(), id.end(), '/') <= 1) apply_model_id(md, id, total);
  }
  apply_model_id(md, in.directory_name, total);
  if (!in.name_override.empty()) md.name = in.name_override;  // Metadata.load lines 143-144
  if (!md.name) md.name = in.directory_name;                  // prepare_metadata's fallback
  if (!md.size_label && total > 0) md.size_label = gguf_size_label(in.counts);
  GgufNaming out;
  out.kvs = meta_model_kvs(md, notes);
  out.note = notes.text();
  return out;
}

GgufNaming gguf_naming_for_directory(const fs::path& model_dir, const json& config, const GgufParameterCounts& counts,
                                     const std::string& name_override) {
  fs::path dir = fs::absolute(model_dir).lexically_normal();
  if (dir.filename().empty()) dir = dir.parent_path();
  const ModelCard card = read_model_card(model_dir);
  GgufNaming n = gguf_naming({dir.filename().string(), config, card.fields, counts, name_override});
  if (!card.note.empty()) n.note = card.note + (n.note.empty() ? "" : "; " + n.note);
  return n;
}

}  // namespace ramq
