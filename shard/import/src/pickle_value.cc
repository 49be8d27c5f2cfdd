// The restricted unpickler's values (see pickle.h): kind names, dict lookup
// and the one-line repr used in error messages.
#include <cstring>

#include "dlrm/common/error.h"
#include "dlrm/import/pickle.h"

namespace dlrm::import::pickle {

const char* to_string(Kind kind) {
  switch (kind) {
    case Kind::kNone: return "None";
    case Kind::kBool: return "bool";
    case Kind::kInt: return "int";
    case Kind::kBigInt: return "int";
    case Kind::kFloat: return "float";
    case Kind::kString: return "str";
    case Kind::kBytes: return "bytes";
    case Kind::kTuple: return "tuple";
    case Kind::kList: return "list";
    case Kind::kDict: return "dict";
    case Kind::kSet: return "set";
    case Kind::kGlobal: return "global";
    case Kind::kCall: return "object";
    case Kind::kPersistentId: return "persistent id";
  }
  return "?";
}

bool Value::is_call_of(const std::string& name) const {
  return kind == Kind::kCall && callable != nullptr && callable->kind == Kind::kGlobal && callable->str == name;
}

const Value* Value::get(const std::string& key) const {
  if (kind != Kind::kDict) return nullptr;
  for (const auto& [k, v] : entries) {
    if (k->kind == Kind::kString && k->str == key) return v;
  }
  return nullptr;
}

namespace {

void append_repr(const Value* v, std::string& out, size_t max_chars, int depth) {
  if (out.size() > max_chars) return;
  if (depth > 8) {
    out += "...";
    return;
  }
  auto seq = [&](const std::vector<Value*>& items, const char* open, const char* close) {
    out += open;
    for (size_t k = 0; k < items.size() && out.size() <= max_chars; ++k) {
      if (k) out += ", ";
      append_repr(items[k], out, max_chars, depth + 1);
    }
    if (items.size() == 1 && std::strcmp(open, "(") == 0) out += ",";
    out += close;
  };
  switch (v->kind) {
    case Kind::kNone: out += "None"; break;
    case Kind::kBool: out += v->b ? "True" : "False"; break;
    case Kind::kInt: out += std::to_string(v->i); break;
    case Kind::kBigInt: out += fmt::format("<{}-byte int>", v->str.size()); break;
    case Kind::kFloat: out += fmt::format("{}", v->f); break;
    case Kind::kString:
      out.push_back('\'');
      out.append(v->str, 0, 64);
      if (v->str.size() > 64) out.append("...");
      out.push_back('\'');
      break;
    case Kind::kBytes: out += fmt::format("<{} bytes>", v->str.size()); break;
    case Kind::kTuple: seq(v->items, "(", ")"); break;
    case Kind::kList: seq(v->items, "[", "]"); break;
    case Kind::kSet: seq(v->items, "{", "}"); break;
    case Kind::kDict:
      out += "{";
      for (size_t k = 0; k < v->entries.size() && out.size() <= max_chars; ++k) {
        if (k) out += ", ";
        append_repr(v->entries[k].first, out, max_chars, depth + 1);
        out += ": ";
        append_repr(v->entries[k].second, out, max_chars, depth + 1);
      }
      out += "}";
      break;
    case Kind::kGlobal: out += v->str; break;
    case Kind::kCall:
      append_repr(v->callable, out, max_chars, depth + 1);
      seq(v->items, "(", ")");
      break;
    case Kind::kPersistentId:
      out += "persistent_id";
      seq(v->items, "(", ")");
      break;
  }
}

}  // namespace

std::string Value::repr(size_t max_chars) const {
  std::string out;
  append_repr(this, out, max_chars, 0);
  if (out.size() > max_chars) out = out.substr(0, max_chars) + "...";
  return out;
}

}  // namespace dlrm::import::pickle
