// The restricted unpickler (see pickle.h). Opcode semantics follow the
// pickle protocol as documented in CPython's Lib/pickletools.py; the
// implementation is a plain stack machine over inert values.
#include "dlrm/import/pickle.h"

#include <algorithm>
#include <bit>
#include <charconv>
#include <cstring>
#include <unordered_map>

#include "dlrm/common/error.h"

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

bool MemorySource::read(void* dst, size_t n) {
  if (n > size_ - pos_) return false;
  if (n) std::memcpy(dst, data_ + pos_, n);
  pos_ += n;
  return true;
}

FileSource::FileSource(std::FILE* file, uint64_t offset, uint64_t end) : file_(file), pos_(offset), end_(end) {
  buffer_start_ = offset;
}

bool FileSource::read(void* dst, size_t n) {
  if (n > end_ - pos_) return false;
  auto* out = static_cast<uint8_t*>(dst);
  while (n > 0) {
    uint64_t in_buffer_end = buffer_start_ + buffer_.size();
    if (pos_ >= buffer_start_ && pos_ < in_buffer_end) {
      size_t take = static_cast<size_t>(std::min<uint64_t>(n, in_buffer_end - pos_));
      std::memcpy(out, buffer_.data() + (pos_ - buffer_start_), take);
      out += take;
      pos_ += take;
      n -= take;
      continue;
    }
    // Refill: 64 KB from pos_ (never past end_).
    constexpr uint64_t kBlock = 64 << 10;
    size_t want = static_cast<size_t>(std::min<uint64_t>(kBlock, end_ - pos_));
    buffer_.resize(want);
    buffer_start_ = pos_;
    if (::fseeko(file_, static_cast<off_t>(pos_), SEEK_SET) != 0) return false;
    size_t got = std::fread(buffer_.data(), 1, want, file_);
    buffer_.resize(got);
    if (got == 0) return false;
  }
  return true;
}

// The stack machine. Values live in the Document; the stack, the marks and
// the memo hold non-owning pointers.
class Unpickler {
 public:
  Unpickler(ByteSource& src, const std::string& name, const std::set<std::string>& allowed, const Limits& limits)
      : src_(src), name_(name), allowed_(allowed), limits_(limits) {}

  Document run() {
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

 private:
  [[noreturn]] void fail(const std::string& what) {
    std::string op = opcode_ >= 0x20 && opcode_ < 0x7f ? fmt::format(" '{}'", static_cast<char>(opcode_)) : "";
    DLRM_FAIL("{}: malformed pickle at byte {} (opcode 0x{:02x}{}): {}; the file is damaged or not a "
              "PyTorch checkpoint",
              name_, opcode_pos_, opcode_, op, what);
  }

  void need(uint64_t n, const char* what) {
    if (n > src_.remaining()) {
      DLRM_FAIL("{}: pickle is truncated at byte {}: {} needs {} bytes but only {} remain; the file was cut "
                "short (copy it again)",
                name_, opcode_pos_, what, n, src_.remaining());
    }
  }

  void read_raw(void* dst, size_t n, const char* what) {
    need(n, what);
    if (!src_.read(dst, n)) {
      DLRM_FAIL("{}: cannot read {} bytes of {} at byte {}: the file is truncated or unreadable", name_, n, what,
                opcode_pos_);
    }
  }
  uint8_t read_u8() {
    uint8_t v;
    read_raw(&v, 1, "an opcode");
    return v;
  }
  template <class T>
  T read_le(const char* what) {
    T v;
    read_raw(&v, sizeof(T), what);
    return v;  // pickle integers are little-endian, like the hosts we support
  }
  std::string read_bytes(uint64_t n, const char* what) {
    need(n, what);
    count_string(n);
    std::string s(static_cast<size_t>(n), '\0');
    read_raw(s.data(), s.size(), what);
    return s;
  }
  // A text line (protocol 0 arguments) without its '\n'.
  std::string read_line(const char* what) {
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

  void count_string(uint64_t n) {
    string_bytes_ += n;
    if (string_bytes_ > limits_.max_string_bytes) {
      DLRM_FAIL("{}: pickle holds more than {} bytes of strings (at byte {}); refusing to load it: a "
                "checkpoint's pickle holds only names and shapes",
                name_, limits_.max_string_bytes, opcode_pos_);
    }
  }

  // Container slots (items and dict entries) are counted like values, so
  // that copies through the memo cannot grow memory faster than the input.
  void count_items(uint64_t n) {
    item_slots_ += n;
    if (item_slots_ > limits_.max_items) {
      DLRM_FAIL("{}: pickle fills more than {} container slots (at byte {}); refusing to load it", name_,
                limits_.max_items, opcode_pos_);
    }
  }

  Value* make(Kind kind) {
    if (doc_.values_.size() >= limits_.max_values) {
      DLRM_FAIL("{}: pickle builds more than {} values (at byte {}); refusing to load it", name_,
                limits_.max_values, opcode_pos_);
    }
    doc_.values_.push_back(std::make_unique<Value>());
    Value* v = doc_.values_.back().get();
    v->kind = kind;
    return v;
  }
  Value* make_int(int64_t i) {
    Value* v = make(Kind::kInt);
    v->i = i;
    return v;
  }
  Value* make_string(Kind kind, std::string s) {
    Value* v = make(kind);
    v->str = std::move(s);
    return v;
  }

  void push(Value* v) {
    if (stack_.size() + marks_.size() >= limits_.max_stack) {
      DLRM_FAIL("{}: pickle stack deeper than {} (at byte {}); refusing to load it", name_, limits_.max_stack,
                opcode_pos_);
    }
    stack_.push_back(v);
  }
  size_t floor() const { return marks_.empty() ? 0 : marks_.back(); }
  Value* pop() {
    if (stack_.size() <= floor()) fail("stack underflow");
    Value* v = stack_.back();
    stack_.pop_back();
    return v;
  }
  Value* top() {
    if (stack_.size() <= floor()) fail("stack underflow");
    return stack_.back();
  }
  // The values above the last MARK, removing them and the mark.
  std::vector<Value*> pop_mark() {
    if (marks_.empty()) fail("no MARK to pop to");
    size_t m = marks_.back();
    marks_.pop_back();
    std::vector<Value*> items(stack_.begin() + static_cast<std::ptrdiff_t>(m), stack_.end());
    stack_.resize(m);
    count_items(items.size());
    return items;
  }

  void memo_put(uint64_t key, Value* v) {
    if (memo_.size() >= limits_.max_memo && !memo_.count(key)) {
      DLRM_FAIL("{}: pickle memo holds more than {} entries (at byte {}); refusing to load it", name_,
                limits_.max_memo, opcode_pos_);
    }
    memo_[key] = v;
  }
  Value* memo_get(uint64_t key) {
    auto it = memo_.find(key);
    if (it == memo_.end()) fail(fmt::format("memo key {} was never stored", key));
    return it->second;
  }

  static std::string normalise_module(std::string module) {
    if (module == "__builtin__") return "builtins";
    if (module == "copy_reg") return "copyreg";
    return module;
  }

  Value* global(const std::string& module, const std::string& attr) {
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

  // UTF-8 encoding of code point `cp`.
  static void put_utf8(std::string& out, uint32_t cp) {
    if (cp < 0x80) {
      out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out.push_back(static_cast<char>(0xc0 | (cp >> 6)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
    } else if (cp < 0x10000) {
      out.push_back(static_cast<char>(0xe0 | (cp >> 12)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
    } else {
      out.push_back(static_cast<char>(0xf0 | ((cp >> 18) & 0x07)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3f)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
    }
  }

  static int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  }

  uint32_t parse_hex(const std::string& s, size_t pos, size_t digits) {
    if (pos + digits > s.size()) fail("truncated escape sequence");
    uint32_t v = 0;
    for (size_t k = 0; k < digits; ++k) {
      int d = hex_digit(s[pos + k]);
      if (d < 0) fail("bad hex digit in an escape sequence");
      v = v * 16 + static_cast<uint32_t>(d);
    }
    return v;
  }

  // Protocol 0 UNICODE argument (raw-unicode-escape: latin-1 bytes, \uXXXX, \UXXXXXXXX) to UTF-8.
  std::string raw_unicode_escape(const std::string& s) {
    std::string out;
    for (size_t k = 0; k < s.size(); ++k) {
      if (s[k] == '\\' && k + 1 < s.size() && (s[k + 1] == 'u' || s[k + 1] == 'U')) {
        size_t digits = s[k + 1] == 'u' ? 4 : 8;
        uint32_t cp = parse_hex(s, k + 2, digits);
        if (cp > 0x10ffff) fail("code point out of range");
        put_utf8(out, cp);
        k += 1 + digits;
      } else {
        put_utf8(out, static_cast<unsigned char>(s[k]));
      }
    }
    return out;
  }

  // Protocol 0 STRING argument: a quoted Python 2 str literal.
  std::string quoted_string(const std::string& s) {
    if (s.size() < 2 || (s[0] != '\'' && s[0] != '"') || s.back() != s[0]) fail("STRING argument is not quoted");
    std::string out;
    for (size_t k = 1; k + 1 < s.size(); ++k) {
      char c = s[k];
      if (c != '\\' || k + 2 >= s.size()) {
        out.push_back(c);
        continue;
      }
      char e = s[++k];
      switch (e) {
        case 'n': out.push_back('\n'); break;
        case 't': out.push_back('\t'); break;
        case 'r': out.push_back('\r'); break;
        case '\\': out.push_back('\\'); break;
        case '\'': out.push_back('\''); break;
        case '"': out.push_back('"'); break;
        case 'x':
          out.push_back(static_cast<char>(parse_hex(s, k + 1, 2)));
          k += 2;
          break;
        default:
          out.push_back('\\');
          out.push_back(e);
      }
    }
    return out;
  }

  int64_t parse_decimal(std::string s, const char* what) {
    if (!s.empty() && s.back() == 'L') s.pop_back();
    int64_t v = 0;
    const char* first = s.data();
    if (!s.empty() && s[0] == '+') ++first;
    auto [ptr, ec] = std::from_chars(first, s.data() + s.size(), v);
    if (ec != std::errc() || ptr != s.data() + s.size() || first == s.data() + s.size()) {
      fail(fmt::format("{} '{}' is not an integer that fits 64 bits", what, s.substr(0, 40)));
    }
    return v;
  }

  // LONG1 / LONG4 payload: little-endian two's complement.
  Value* make_long(std::string bytes) {
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

  // REDUCE / NEWOBJ: a few data-only constructors are evaluated; everything
  // else is recorded as an inert call.
  Value* call(Value* callable, Value* args, Value* kwargs) {
    if (callable->kind != Kind::kGlobal) {
      fail(fmt::format("calls a {} instead of a named global; refusing", to_string(callable->kind)));
    }
    if (args->kind != Kind::kTuple) fail(fmt::format("call arguments are a {}, not a tuple", to_string(args->kind)));
    const std::string& name = callable->str;
    const bool no_kwargs = kwargs == nullptr || (kwargs->kind == Kind::kDict && kwargs->entries.empty());
    if (name == "collections.OrderedDict" && no_kwargs) {
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
    if (name == "_codecs.encode" && no_kwargs && args->items.size() == 2 && args->items[0]->is_string() &&
        args->items[1]->is_string() && (args->items[1]->str == "latin1" || args->items[1]->str == "latin-1")) {
      // Protocol 2 spelling of a bytes object: text whose code points are the bytes.
      const std::string& s = args->items[0]->str;
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
    if ((name == "builtins.set" || name == "builtins.frozenset") && no_kwargs && args->items.size() <= 1) {
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

  void step() {
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

  ByteSource& src_;
  const std::string& name_;
  const std::set<std::string>& allowed_;
  const Limits& limits_;
  Document doc_;
  std::vector<Value*> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint64_t, Value*> memo_;
  uint64_t string_bytes_ = 0;
  uint64_t item_slots_ = 0;
  uint64_t opcode_pos_ = 0;
  uint8_t opcode_ = 0;
};

Document unpickle(ByteSource& src, const std::string& name, const std::set<std::string>& allowed_globals,
                  const Limits& limits) {
  Unpickler unpickler(src, name, allowed_globals, limits);
  return unpickler.run();
}

}  // namespace dlrm::import::pickle
