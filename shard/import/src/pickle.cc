// The restricted unpickler's opcode machine (see pickle.h, unpickler.h).
// Opcode semantics follow the pickle protocol as documented in CPython's
// Lib/pickletools.py; the implementation is a plain stack machine over
// inert values.
#include <bit>
#include <charconv>

#include "dlrm/common/error.h"
#include "dlrm/import/pickle.h"
#include "unpickler.h"

namespace dlrm::import::pickle {

Document Unpickler::run() {
  for (;;) {
    opcode_pos_ = src_.position();
    opcode_ = read_u8();
    if (opcode_ == '.') break;  // STOP
    step();
  }
  DLRM_CHECK(!stack_.empty(), "{}: malformed pickle: STOP with an empty stack at byte {}", name_, opcode_pos_);
  doc_.root_ = stack_.back();
  return std::move(doc_);
}

void Unpickler::fail(const std::string& what) {
  std::string op = opcode_ >= 0x20 && opcode_ < 0x7f ? fmt::format(" '{}'", static_cast<char>(opcode_)) : "";
  DLRM_FAIL("{}: malformed pickle at byte {} (opcode 0x{:02x}{}): {}; the file is damaged or not a "
            "PyTorch checkpoint",
            name_, opcode_pos_, opcode_, op, what);
}

std::string Unpickler::read_line(const char* what) {
  std::string s;
  constexpr size_t kMaxLine = 1 << 20;
  for (;;) {
    char c;
    if (src_.remaining() == 0) {
      DLRM_FAIL("{}: pickle is truncated at byte {} inside {} (no end of line)", name_, opcode_pos_, what);
    }
    read_raw(&c, 1, what);
    if (c == '\n') break;
    if (s.size() >= kMaxLine) fail(fmt::format("{} is longer than {} bytes", what, kMaxLine));
    s.push_back(c);
  }
  count_string(s.size());
  return s;
}

std::vector<Value*> Unpickler::pop_mark() {
  if (marks_.empty()) fail("no MARK to pop to");
  size_t m = marks_.back();
  marks_.pop_back();
  std::vector<Value*> items(stack_.begin() + static_cast<std::ptrdiff_t>(m), stack_.end());
  stack_.resize(m);
  count_items(items.size());
  return items;
}

void Unpickler::memo_put(uint64_t key, Value* v) {
  if (memo_.size() >= limits_.max_memo && !memo_.count(key)) {
    DLRM_FAIL("{}: pickle memo holds more than {} entries (at byte {}); refusing to load it", name_,
              limits_.max_memo, opcode_pos_);
  }
  memo_[key] = v;
}

Value* Unpickler::memo_get(uint64_t key) {
  auto it = memo_.find(key);
  if (it == memo_.end()) fail(fmt::format("memo key {} was never stored", key));
  return it->second;
}

Value* Unpickler::make_long(std::string bytes) {
  if (bytes.size() <= 8) {
    uint64_t u = 0;
    for (size_t k = 0; k < bytes.size(); ++k) u |= static_cast<uint64_t>(static_cast<unsigned char>(bytes[k])) << (8 * k);
    if (!bytes.empty() && bytes.size() < 8 && (static_cast<unsigned char>(bytes.back()) & 0x80)) {
      u |= ~uint64_t{0} << (8 * bytes.size());  // sign-extend
    }
    return make_int(static_cast<int64_t>(u));
  }
  return make_string(Kind::kBigInt, std::move(bytes));
}

void Unpickler::step() {
  switch (opcode_) {
    case 0x80: {  // PROTO
      uint8_t version = read_u8();
      if (version > 5) fail(fmt::format("pickle protocol {} is newer than 5", version));
      break;
    }
    case 0x95: read_le<uint64_t>("a frame length"); break;  // FRAME: only a read-ahead hint
    case '(': {                                               // MARK
      if (stack_.size() + marks_.size() >= limits_.max_stack) {
        DLRM_FAIL("{}: pickle stack deeper than {} (at byte {}); refusing to load it", name_, limits_.max_stack,
                  opcode_pos_);
      }
      marks_.push_back(stack_.size());
      break;
    }
    case '0':  // POP
      if (stack_.size() > floor()) {
        stack_.pop_back();
      } else {
        pop_mark();
      }
      break;
    case '1': pop_mark(); break;    // POP_MARK
    case '2': push(top()); break;   // DUP
    case 'N': push(make(Kind::kNone)); break;
    case 0x88:
    case 0x89: {  // NEWTRUE, NEWFALSE
      Value* v = make(Kind::kBool);
      v->b = opcode_ == 0x88;
      push(v);
      break;
    }
    case 'I': {  // INT (text); "01"/"00" are True/False
      std::string s = read_line("an INT argument");
      if (s == "01" || s == "00") {
        Value* v = make(Kind::kBool);
        v->b = s == "01";
        push(v);
      } else {
        push(make_int(parse_decimal(s, "INT")));
      }
      break;
    }
    case 'L': push(make_int(parse_decimal(read_line("a LONG argument"), "LONG"))); break;
    case 'J': push(make_int(read_le<int32_t>("BININT"))); break;
    case 'K': push(make_int(read_le<uint8_t>("BININT1"))); break;
    case 'M': push(make_int(read_le<uint16_t>("BININT2"))); break;
    case 0x8a: {  // LONG1
      uint8_t n = read_u8();
      push(make_long(read_bytes(n, "LONG1")));
      break;
    }
    case 0x8b: {  // LONG4
      int32_t n = read_le<int32_t>("LONG4 length");
      if (n < 0) fail("negative LONG4 length");
      push(make_long(read_bytes(static_cast<uint64_t>(n), "LONG4")));
      break;
    }
    case 'F': {  // FLOAT (text)
      std::string s = read_line("a FLOAT argument");
      double f = 0;
      auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), f);
      if (ec != std::errc() || ptr != s.data() + s.size()) fail("FLOAT argument is not a number");
      Value* v = make(Kind::kFloat);
      v->f = f;
      push(v);
      break;
    }
    case 'G': {  // BINFLOAT: big-endian IEEE double
      uint64_t bits = read_le<uint64_t>("BINFLOAT");
      Value* v = make(Kind::kFloat);
      v->f = std::bit_cast<double>(__builtin_bswap64(bits));
      push(v);
      break;
    }
    case 'S': push(make_string(Kind::kString, quoted_string(read_line("a STRING argument")))); break;
    case 'T': {  // BINSTRING
      int32_t n = read_le<int32_t>("BINSTRING length");
      if (n < 0) fail("negative BINSTRING length");
      push(make_string(Kind::kString, read_bytes(static_cast<uint64_t>(n), "BINSTRING")));
      break;
    }
    case 'U': push(make_string(Kind::kString, read_bytes(read_u8(), "SHORT_BINSTRING"))); break;
    case 'V': push(make_string(Kind::kString, raw_unicode_escape(read_line("a UNICODE argument")))); break;
    case 'X': push(make_string(Kind::kString, read_bytes(read_le<uint32_t>("BINUNICODE length"), "BINUNICODE"))); break;
    case 0x8c: push(make_string(Kind::kString, read_bytes(read_u8(), "SHORT_BINUNICODE"))); break;
    case 0x8d: push(make_string(Kind::kString, read_bytes(read_le<uint64_t>("BINUNICODE8 length"), "BINUNICODE8"))); break;
    case 'B': push(make_string(Kind::kBytes, read_bytes(read_le<uint32_t>("BINBYTES length"), "BINBYTES"))); break;
    case 'C': push(make_string(Kind::kBytes, read_bytes(read_u8(), "SHORT_BINBYTES"))); break;
    case 0x8e: push(make_string(Kind::kBytes, read_bytes(read_le<uint64_t>("BINBYTES8 length"), "BINBYTES8"))); break;
    case 0x96: push(make_string(Kind::kBytes, read_bytes(read_le<uint64_t>("BYTEARRAY8 length"), "BYTEARRAY8"))); break;
    case 0x97:
    case 0x98: fail("out-of-band buffers (protocol 5) are not used by checkpoints");
    case ')': push(make(Kind::kTuple)); break;
    case ']': push(make(Kind::kList)); break;
    case '}': push(make(Kind::kDict)); break;
    case 0x8f: push(make(Kind::kSet)); break;
    case 't': {  // TUPLE
      Value* v = make(Kind::kTuple);
      v->items = pop_mark();
      push(v);
      break;
    }
    case 0x85:
    case 0x86:
    case 0x87: {  // TUPLE1..3
      size_t n = opcode_ - 0x84u;
      Value* v = make(Kind::kTuple);
      v->items.resize(n);
      for (size_t k = n; k-- > 0;) v->items[k] = pop();
      push(v);
      break;
    }
    case 'l': {  // LIST
      Value* v = make(Kind::kList);
      v->items = pop_mark();
      push(v);
      break;
    }
    case 0x91: {  // FROZENSET
      Value* v = make(Kind::kSet);
      v->items = pop_mark();
      push(v);
      break;
    }
    case 'd': {  // DICT
      std::vector<Value*> items = pop_mark();
      if (items.size() % 2) fail("DICT with an odd number of items");
      Value* v = make(Kind::kDict);
      for (size_t k = 0; k < items.size(); k += 2) v->entries.emplace_back(items[k], items[k + 1]);
      push(v);
      break;
    }
    case 'a': {  // APPEND
      Value* item = pop();
      Value* list = top();
      if (list->kind != Kind::kList) fail(fmt::format("APPEND to a {}", to_string(list->kind)));
      count_items(1);
      list->items.push_back(item);
      break;
    }
    case 'e': {  // APPENDS
      std::vector<Value*> items = pop_mark();
      Value* list = top();
      if (list->kind != Kind::kList) fail(fmt::format("APPENDS to a {}", to_string(list->kind)));
      list->items.insert(list->items.end(), items.begin(), items.end());
      break;
    }
    case 0x90: {  // ADDITEMS
      std::vector<Value*> items = pop_mark();
      Value* set = top();
      if (set->kind != Kind::kSet) fail(fmt::format("ADDITEMS to a {}", to_string(set->kind)));
      set->items.insert(set->items.end(), items.begin(), items.end());
      break;
    }
    case 's': {  // SETITEM
      Value* value = pop();
      Value* key = pop();
      Value* dict = top();
      if (dict->kind != Kind::kDict) fail(fmt::format("SETITEM on a {}", to_string(dict->kind)));
      count_items(1);
      dict->entries.emplace_back(key, value);
      break;
    }
    case 'u': {  // SETITEMS
      std::vector<Value*> items = pop_mark();
      if (items.size() % 2) fail("SETITEMS with an odd number of items");
      Value* dict = top();
      if (dict->kind != Kind::kDict) fail(fmt::format("SETITEMS on a {}", to_string(dict->kind)));
      for (size_t k = 0; k < items.size(); k += 2) dict->entries.emplace_back(items[k], items[k + 1]);
      break;
    }
    case 'p': memo_put(static_cast<uint64_t>(parse_decimal(read_line("a PUT argument"), "PUT")), top()); break;
    case 'q': memo_put(read_u8(), top()); break;
    case 'r': memo_put(read_le<uint32_t>("LONG_BINPUT"), top()); break;
    case 0x94: memo_put(memo_.size(), top()); break;  // MEMOIZE
    case 'g': push(memo_get(static_cast<uint64_t>(parse_decimal(read_line("a GET argument"), "GET")))); break;
    case 'h': push(memo_get(read_u8())); break;
    case 'j': push(memo_get(read_le<uint32_t>("LONG_BINGET"))); break;
    case 'c': {  // GLOBAL "module\nname\n"
      std::string module = read_line("a GLOBAL module");
      std::string attr = read_line("a GLOBAL name");
      push(global(module, attr));
      break;
    }
    case 0x93: {  // STACK_GLOBAL
      Value* attr = pop();
      Value* module = pop();
      if (!module->is_string() || !attr->is_string()) fail("STACK_GLOBAL needs two strings");
      push(global(module->str, attr->str));
      break;
    }
    case 'R': {  // REDUCE
      Value* args = pop();
      Value* callable = pop();
      push(call(callable, args, nullptr));
      break;
    }
    case 0x81: {  // NEWOBJ
      Value* args = pop();
      Value* cls = pop();
      push(call(cls, args, nullptr));
      break;
    }
    case 0x92: {  // NEWOBJ_EX
      Value* kwargs = pop();
      Value* args = pop();
      Value* cls = pop();
      push(call(cls, args, kwargs));
      break;
    }
    case 'b': {  // BUILD: obj.__setstate__(state), recorded
      Value* state = pop();
      Value* obj = top();
      if (obj->kind != Kind::kCall && obj->kind != Kind::kDict) {
        fail(fmt::format("BUILD on a {}", to_string(obj->kind)));
      }
      if (obj->kind == Kind::kCall) obj->state = state;  // dict attributes (state_dict._metadata) are not needed
      break;
    }
    case 'Q': {  // BINPERSID
      Value* pid = pop();
      Value* v = make(Kind::kPersistentId);
      v->items.push_back(pid);
      doc_.persistent_ids_.push_back(v);
      push(v);
      break;
    }
    case 'P': {  // PERSID (text)
      Value* v = make(Kind::kPersistentId);
      v->items.push_back(make_string(Kind::kString, read_line("a PERSID argument")));
      doc_.persistent_ids_.push_back(v);
      push(v);
      break;
    }
    case 'i':
    case 'o': fail("INST/OBJ build instances of arbitrary classes; refusing (nothing was executed)");
    case 0x82:
    case 0x83:
    case 0x84: fail("extension registry codes (EXT1/2/4) are not used by checkpoints; refusing");
    default:
      fail("unknown opcode");
  }
}

Document unpickle(ByteSource& src, const std::string& name, const std::set<std::string>& allowed_globals,
                  const Limits& limits) {
  Unpickler unpickler(src, name, allowed_globals, limits);
  return unpickler.run();
}

}  // namespace dlrm::import::pickle
