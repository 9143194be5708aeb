// Test support: a small, strict XML parser (well-formedness: one root, matching tags, quoted and
// unique attributes, only XML's predefined and numeric entities, CDATA, comments, a doctype),
// used to check that the HTML report is well-formed XHTML-compatible markup and to query it.
#pragma once

#include <cctype>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace ramq::testkit {

struct XmlNode {
  std::string name;
  std::map<std::string, std::string> attrs;
  std::vector<std::unique_ptr<XmlNode>> children;
  std::string text;  // character data directly inside (entities decoded)

  const std::string* attr(const std::string& k) const {
    const auto it = attrs.find(k);
    return it == attrs.end() ? nullptr : &it->second;
  }
  bool has_class(const std::string& c) const {
    const auto* v = attr("class");
    if (!v) return false;
    const std::string padded = " " + *v + " ";
    return padded.find(" " + c + " ") != std::string::npos;
  }
  // All text below this node, in document order.
  std::string all_text() const {
    std::string s = text;
    for (const auto& c : children) s += c->all_text();
    return s;
  }
  void collect(const std::function<bool(const XmlNode&)>& pred, std::vector<const XmlNode*>& out) const {
    if (pred(*this)) out.push_back(this);
    for (const auto& c : children) c->collect(pred, out);
  }
  std::vector<const XmlNode*> find_all(const std::function<bool(const XmlNode&)>& pred) const {
    std::vector<const XmlNode*> out;
    collect(pred, out);
    return out;
  }
  const XmlNode* find_id(const std::string& id) const {
    const auto v = find_all([&](const XmlNode& n) { return n.attr("id") && *n.attr("id") == id; });
    return v.empty() ? nullptr : v.front();
  }
};

class XmlLiteParser {
 public:
  explicit XmlLiteParser(const std::string& s) : s_(s) {}

  std::unique_ptr<XmlNode> parse() {
    skip_misc(true);
    if (!starts("<")) fail("expected the root element");
    auto root = element();
    skip_misc(false);
    if (p_ != s_.size()) fail("content after the root element");
    return root;
  }

 private:
  const std::string& s_;
  std::size_t p_ = 0;

  [[noreturn]] void fail(const std::string& what) const {
    throw std::runtime_error("XML error at byte " + std::to_string(p_) + ": " + what + " near '" + s_.substr(p_, 40) + "'");
  }
  bool starts(const char* t) const { return s_.compare(p_, std::char_traits<char>::length(t), t) == 0; }
  void skip_ws() {
    while (p_ < s_.size() && (s_[p_] == ' ' || s_[p_] == '\n' || s_[p_] == '\t' || s_[p_] == '\r')) ++p_;
  }
  void skip_past(const char* end, const char* what) {
    const auto e = s_.find(end, p_);
    if (e == std::string::npos) fail(std::string("unterminated ") + what);
    p_ = e + std::char_traits<char>::length(end);
  }
  // Whitespace, comments, processing instructions and (before the root) one doctype.
  void skip_misc(bool doctype_allowed) {
    for (;;) {
      skip_ws();
      if (starts("<!--")) {
        skip_past("-->", "comment");
      } else if (starts("<?")) {
        skip_past("?>", "processing instruction");
      } else if (doctype_allowed && starts("<!DOCTYPE")) {
        skip_past(">", "doctype");
        doctype_allowed = false;
      } else {
        return;
      }
    }
  }
  static bool name_start(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_' || c == ':'; }
  static bool name_char(char c) {
    return name_start(c) || std::isdigit(static_cast<unsigned char>(c)) || c == '-' || c == '.';
  }
  std::string name() {
    if (p_ >= s_.size() || !name_start(s_[p_])) fail("expected a name");
    const std::size_t b = p_;
    while (p_ < s_.size() && name_char(s_[p_])) ++p_;
    return s_.substr(b, p_ - b);
  }
  static void append_utf8(std::string& out, std::uint32_t cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }
  void entity(std::string& out) {
    const auto e = s_.find(';', p_);
    if (e == std::string::npos || e - p_ > 12) fail("bad entity");
    const std::string ent = s_.substr(p_ + 1, e - p_ - 1);
    static const std::map<std::string, char> predefined = {{"amp", '&'}, {"lt", '<'}, {"gt", '>'}, {"quot", '"'}, {"apos", '\''}};
    if (const auto it = predefined.find(ent); it != predefined.end()) {
      out += it->second;
    } else if (ent.size() > 1 && ent[0] == '#') {
      const bool hex = ent[1] == 'x';
      const std::string digits = ent.substr(hex ? 2 : 1);
      if (digits.empty() || digits.find_first_not_of(hex ? "0123456789abcdefABCDEF" : "0123456789") != std::string::npos)
        fail("bad character reference");
      append_utf8(out, static_cast<std::uint32_t>(std::stoul(digits, nullptr, hex ? 16 : 10)));
    } else {
      fail("entity '&" + ent + ";' is not defined in XML");
    }
    p_ = e + 1;
  }
  std::unique_ptr<XmlNode> element() {
    ++p_;  // '<'
    auto n = std::make_unique<XmlNode>();
    n->name = name();
    for (;;) {
      const std::size_t before = p_;
      skip_ws();
      if (starts("/>")) {
        p_ += 2;
        return n;
      }
      if (starts(">")) {
        ++p_;
        break;
      }
      if (p_ == before) fail("expected whitespace before an attribute");
      const std::string key = name();
      skip_ws();
      if (!starts("=")) fail("attribute '" + key + "' without a value");
      ++p_;
      skip_ws();
      if (p_ >= s_.size() || (s_[p_] != '"' && s_[p_] != '\'')) fail("unquoted attribute value");
      const char q = s_[p_++];
      std::string v;
      while (p_ < s_.size() && s_[p_] != q) {
        if (s_[p_] == '<') fail("'<' in an attribute value");
        if (s_[p_] == '&') {
          entity(v);
        } else {
          v += s_[p_++];
        }
      }
      if (p_ >= s_.size()) fail("unterminated attribute value");
      ++p_;
      if (!n->attrs.emplace(key, v).second) fail("duplicate attribute '" + key + "'");
    }
    for (;;) {  // content
      if (p_ >= s_.size()) fail("unclosed element <" + n->name + ">");
      if (starts("</")) {
        p_ += 2;
        if (name() != n->name) fail("mismatched closing tag for <" + n->name + ">");
        skip_ws();
        if (!starts(">")) fail("bad closing tag");
        ++p_;
        return n;
      }
      if (starts("<!--")) {
        skip_past("-->", "comment");
      } else if (starts("<![CDATA[")) {
        p_ += 9;
        const auto e = s_.find("]]>", p_);
        if (e == std::string::npos) fail("unterminated CDATA");
        n->text += s_.substr(p_, e - p_);
        p_ = e + 3;
      } else if (starts("<")) {
        n->children.push_back(element());
      } else if (s_[p_] == '&') {
        entity(n->text);
      } else {
        n->text += s_[p_++];
      }
    }
  }
};

inline std::unique_ptr<XmlNode> parse_xml(const std::string& s) { return XmlLiteParser(s).parse(); }

}  // namespace ramq::testkit
