// A restricted unpickler: reads one Python pickle (protocols 0 to 5, as
// written by torch.save) into a tree of inert values; nothing is executed.
//
//   GLOBAL / STACK_GLOBAL m n   -> kGlobal "m.n" if "m.n" is in allowed_globals
//                                  (Python 2's __builtin__ / copy_reg read as
//                                  builtins / copyreg), else Error
//   REDUCE / NEWOBJ(_EX) f args -> collections.OrderedDict([(k, v), ...]) -> kDict (ordered)
//                                  _codecs.encode(text, 'latin1')    -> kBytes
//                                  builtins.set / frozenset([seq])   -> kSet
//                                  any other f -> kCall {callable f, items args,
//                                                        entries NEWOBJ_EX kwargs}
//   BUILD state                 -> kCall: its `state` = state; kDict: state dropped
//   PERSID / BINPERSID pid      -> kPersistentId {items[0] = pid}, also listed
//                                  in Document::persistent_ids()
//   INST, OBJ, EXT1/2/4, NEXT_BUFFER, READONLY_BUFFER -> Error
// Other opcodes build values as Python would (CPython's Lib/pickletools.py).
//
// Errors (dlrm::Error, naming the input and the byte):
//   a global outside the list: "NAME: pickle refers to global 'os.system'
//     which a checkpoint does not need; refusing to load it (nothing was executed)..."
//   a length beyond the input left: "pickle is truncated at byte P" (before
//     anything is allocated); a malformed pickle: "malformed pickle at byte P
//     (opcode 0xNN)"; a Limits bound crossed: "... refusing to load it".
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace dlrm::import::pickle {

enum class Kind : uint8_t {
  kNone,
  kBool,
  kInt,     // fits int64 (value `i`)
  kBigInt,  // longer than 64 bits: little-endian two's complement bytes in `str`
  kFloat,
  kString,  // unicode text (UTF-8 in `str`) or a protocol-0/1 byte string
  kBytes,
  kTuple,
  kList,
  kDict,
  kSet,
  kGlobal,        // "module.name" in `str` (an allowed name, never resolved)
  kCall,          // callable(*args) recorded, not performed; BUILD state in `state`
  kPersistentId,  // persistent_load(pid): pid in `items[0]`
};

const char* to_string(Kind kind);

struct Value {
  Kind kind = Kind::kNone;
  bool b = false;
  int64_t i = 0;
  double f = 0;
  std::string str;
  std::vector<Value*> items;                      // tuple, list, set; kCall args; kPersistentId pid
  std::vector<std::pair<Value*, Value*>> entries;  // dict, in insertion order
  Value* callable = nullptr;                      // kCall: a kGlobal
  Value* state = nullptr;                         // kCall: argument of BUILD, if any
  // (a kCall from NEWOBJ_EX keeps its keyword arguments in `entries`)
  bool ordered = false;                           // dict made by collections.OrderedDict

  bool is_string() const { return kind == Kind::kString; }
  bool is_int() const { return kind == Kind::kInt; }
  // kCall whose callable is the global `name` ("torch._utils._rebuild_tensor_v2").
  bool is_call_of(const std::string& name) const;
  // Dict lookup by string key; nullptr when absent or not a dict.
  const Value* get(const std::string& key) const;
  // One line, shortened: "('storage', torch.FloatStorage, '0', 'cpu', 40)".
  std::string repr(size_t max_chars = 120) const;
};

// Bounds on what one pickle may build; crossing one is an Error.
struct Limits {
  uint64_t max_values = 1u << 22;        // values created
  uint64_t max_items = 1u << 26;         // slots in tuples, lists, sets and dicts (memo copies included)
  uint64_t max_string_bytes = 1u << 30;  // bytes held by all strings together
  uint64_t max_stack = 1u << 20;         // stack entries plus marks
  uint64_t max_memo = 1u << 24;          // memo entries
};

// Where the pickle bytes come from.
class ByteSource {
 public:
  virtual ~ByteSource() = default;
  // Reads exactly n bytes or returns false (end of input).
  virtual bool read(void* dst, size_t n) = 0;
  // Bytes still available (an upper bound for lengths in the pickle).
  virtual uint64_t remaining() const = 0;
  // Bytes consumed so far (for error messages and for what follows the pickle).
  virtual uint64_t position() const = 0;
};

class MemorySource final : public ByteSource {
 public:
  MemorySource(const void* data, size_t size) : data_(static_cast<const uint8_t*>(data)), size_(size) {}
  bool read(void* dst, size_t n) override;
  uint64_t remaining() const override { return size_ - pos_; }
  uint64_t position() const override { return pos_; }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

// Buffered reads from an open file starting at `offset`; `end` bounds them.
class FileSource final : public ByteSource {
 public:
  FileSource(std::FILE* file, uint64_t offset, uint64_t end);
  bool read(void* dst, size_t n) override;
  uint64_t remaining() const override { return end_ - pos_; }
  uint64_t position() const override { return pos_; }

 private:
  std::FILE* file_;
  uint64_t pos_;
  uint64_t end_;
  std::vector<uint8_t> buffer_;
  uint64_t buffer_start_ = 0;  // file offset of buffer_[0]
};

// The values of one pickle; owns them (values may be shared through the memo).
class Document {
 public:
  Document() = default;
  Document(Document&&) noexcept = default;
  Document& operator=(Document&&) noexcept = default;
  const Value* root() const { return root_; }
  size_t values() const { return values_.size(); }
  // Every persistent id the pickle made, in order (reachable from root or not).
  const std::vector<const Value*>& persistent_ids() const { return persistent_ids_; }

 private:
  friend class Unpickler;
  std::vector<std::unique_ptr<Value>> values_;
  std::vector<const Value*> persistent_ids_;
  Value* root_ = nullptr;
};

// Reads one pickle (through its STOP opcode) from `src`, leaving `src` just
// after it; the root is the value on top of the stack at STOP. `name` labels
// errors ("x.pt", "x.pt entry archive/data.pkl"). Throws dlrm::Error on a
// global outside `allowed_globals` ("module.name"), a malformed or truncated
// pickle, or a limit reached.
Document unpickle(ByteSource& src, const std::string& name, const std::set<std::string>& allowed_globals,
                  const Limits& limits = Limits{});

}  // namespace dlrm::import::pickle
