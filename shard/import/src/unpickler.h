// The restricted unpickler's stack machine (private to dlrm_import).
//
//   pickle.cc          run(), step(): one case per opcode; stack, marks, memo
//   pickle_text.cc     protocol 0 text arguments (INT, STRING, UNICODE, ...)
//   pickle_globals.cc  the allow-list (GLOBAL, STACK_GLOBAL) and calls (REDUCE, NEWOBJ)
//
// Values live in the Document; the stack, the marks and the memo hold
// non-owning pointers. Every limit of Limits is checked where it grows.
#pragma once

#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "dlrm/common/error.h"
#include "dlrm/import/pickle.h"

namespace dlrm::import::pickle {

class Unpickler {
 public:
  Unpickler(ByteSource& src, const std::string& name, const std::set<std::string>& allowed, const Limits& limits)
      : src_(src), name_(name), allowed_(allowed), limits_(limits) {}

  // Executes opcodes through STOP; the Document's root is the top of the stack.
  Document run();

 private:
  // --- errors (pickle.cc) ---------------------------------------------------
  // "NAME: malformed pickle at byte P (opcode 0xNN 'c'): WHAT; ..."
  [[noreturn]] void fail(const std::string& what);

  // --- reading the input ----------------------------------------------------
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
  // A text line (protocol 0 arguments) without its '\n' (pickle.cc).
  std::string read_line(const char* what);

  // --- limits ---------------------------------------------------------------
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

  // --- values ---------------------------------------------------------------
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
  // LONG1 / LONG4 payload (little-endian two's complement): kInt when it
  // fits 64 bits, else kBigInt (pickle.cc).
  Value* make_long(std::string bytes);

  // --- the stack, marks and memo --------------------------------------------
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
  // The values above the last MARK, removing them and the mark (pickle.cc).
  std::vector<Value*> pop_mark();
  void memo_put(uint64_t key, Value* v);
  Value* memo_get(uint64_t key);

  // --- one opcode (pickle.cc) -----------------------------------------------
  void step();

  // --- protocol 0 text arguments (pickle_text.cc) ---------------------------
  // s[pos, pos + digits) as hexadecimal.
  uint32_t parse_hex(const std::string& s, size_t pos, size_t digits);
  // UNICODE argument (raw-unicode-escape: latin-1 bytes, \uXXXX, \UXXXXXXXX) to UTF-8.
  std::string raw_unicode_escape(const std::string& s);
  // STRING argument: a quoted Python 2 str literal, escapes resolved.
  std::string quoted_string(const std::string& s);
  // INT / LONG / PUT / GET argument: decimal, optional '+' and trailing 'L', fits int64.
  int64_t parse_decimal(std::string s, const char* what);

  // --- globals and calls (pickle_globals.cc) --------------------------------
  // kGlobal "module.name" if allowed (Python 2 module names normalised), else throws.
  Value* global(const std::string& module, const std::string& attr);
  // REDUCE / NEWOBJ(_EX): OrderedDict, _codecs.encode(str, 'latin1') and
  // set/frozenset are evaluated; any other callable is recorded as kCall.
  Value* call(Value* callable, Value* args, Value* kwargs);
  Value* ordered_dict(const Value* args);
  Value* latin1_bytes(const std::string& text);
  Value* set_of(const Value* args);

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

}  // namespace dlrm::import::pickle
