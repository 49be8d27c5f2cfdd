// The restricted unpickler's globals and calls (see pickle.h, unpickler.h):
// GLOBAL / STACK_GLOBAL names are checked against the caller's allow-list;
// REDUCE / NEWOBJ evaluate three data-only constructors and record every
// other call as an inert kCall value.
#include "dlrm/common/error.h"
#include "unpickler.h"

namespace dlrm::import::pickle {

namespace {

// Python 2 module names as Python 3 spells them.
std::string normalise_module(std::string module) {
  if (module == "__builtin__") return "builtins";
  if (module == "copy_reg") return "copyreg";
  return module;
}

}  // namespace

Value* Unpickler::global(const std::string& module, const std::string& attr) {
  std::string full = normalise_module(module) + "." + attr;
  if (!allowed_.count(full)) {
    std::string shown = full.size() > 200 ? full.substr(0, 200) + "..." : full;
    DLRM_FAIL("{}: pickle refers to global '{}' which a checkpoint does not need; refusing to load it "
              "(nothing was executed). A state_dict needs only collections.OrderedDict and torch's tensor "
              "rebuild functions and storage types; save model.state_dict() with torch.save",
              name_, shown);
  }
  return make_string(Kind::kGlobal, full);
}

Value* Unpickler::call(Value* callable, Value* args, Value* kwargs) {
  if (callable->kind != Kind::kGlobal) {
    fail(fmt::format("calls a {} instead of a named global; refusing", to_string(callable->kind)));
  }
  if (args->kind != Kind::kTuple) fail(fmt::format("call arguments are a {}, not a tuple", to_string(args->kind)));
  const std::string& name = callable->str;
  const bool no_kwargs = kwargs == nullptr || (kwargs->kind == Kind::kDict && kwargs->entries.empty());
  if (name == "collections.OrderedDict" && no_kwargs) return ordered_dict(args);
  if (name == "_codecs.encode" && no_kwargs && args->items.size() == 2 && args->items[0]->is_string() &&
      args->items[1]->is_string() && (args->items[1]->str == "latin1" || args->items[1]->str == "latin-1")) {
    return latin1_bytes(args->items[0]->str);
  }
  if ((name == "builtins.set" || name == "builtins.frozenset") && no_kwargs && args->items.size() <= 1) {
    return set_of(args);
  }
  Value* v = make(Kind::kCall);
  v->callable = callable;
  count_items(args->items.size());
  v->items = args->items;
  if (!no_kwargs && kwargs->kind == Kind::kDict) {
    count_items(kwargs->entries.size());
    v->entries = kwargs->entries;
  }
  return v;
}

// OrderedDict() or OrderedDict([(key, value), ...]): a dict in insertion order.
Value* Unpickler::ordered_dict(const Value* args) {
  Value* d = make(Kind::kDict);
  d->ordered = true;
  if (args->items.size() == 1 && (args->items[0]->kind == Kind::kList || args->items[0]->kind == Kind::kTuple)) {
    count_items(args->items[0]->items.size());
    for (Value* pair : args->items[0]->items) {
      if (pair->kind != Kind::kTuple || pair->items.size() != 2) fail("OrderedDict items are not pairs");
      d->entries.emplace_back(pair->items[0], pair->items[1]);
    }
  } else if (!args->items.empty()) {
    fail("OrderedDict called with unexpected arguments");
  }
  return d;
}

// _codecs.encode(text, 'latin1'), protocol 2's spelling of a bytes object:
// text (UTF-8) whose code points are the bytes.
Value* Unpickler::latin1_bytes(const std::string& s) {
  std::string bytes;
  for (size_t k = 0; k < s.size();) {
    unsigned char c = static_cast<unsigned char>(s[k]);
    if (c < 0x80) {
      bytes.push_back(static_cast<char>(c));
      k += 1;
    } else if ((c & 0xe0) == 0xc0 && k + 1 < s.size()) {
      uint32_t cp = ((c & 0x1fu) << 6) | (static_cast<unsigned char>(s[k + 1]) & 0x3fu);
      if (cp > 0xff) fail("_codecs.encode of text outside latin-1");
      bytes.push_back(static_cast<char>(cp));
      k += 2;
    } else {
      fail("_codecs.encode of text outside latin-1");
    }
  }
  return make_string(Kind::kBytes, std::move(bytes));
}

// set() / frozenset() or set(sequence).
Value* Unpickler::set_of(const Value* args) {
  Value* s = make(Kind::kSet);
  if (!args->items.empty()) {
    Value* src = args->items[0];
    if (src->kind != Kind::kList && src->kind != Kind::kTuple && src->kind != Kind::kSet) {
      fail("set() of a non-sequence");
    }
    count_items(src->items.size());
    s->items = src->items;
  }
  return s;
}

}  // namespace dlrm::import::pickle
