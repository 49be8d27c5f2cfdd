// The restricted unpickler: value trees for protocols 0, 2 and 4 (vectors
// made by CPython's pickle.dumps), refusal of every global outside the allow
// list, truncation at every byte, absurd lengths, limits, and random damage.
#include <gtest/gtest.h>

#include <random>

#include "dlrm/common/error.h"
#include "dlrm/import/pickle.h"
#include "dlrm/import/torch_checkpoint.h"
#include "fixtures.h"

namespace dlrm::import::pickle {
namespace {

std::string unhex(const std::string& hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) out.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  return out;
}

Document load(const std::string& bytes, const std::set<std::string>& allowed = torch_allowed_globals(),
              const Limits& limits = Limits{}) {
  MemorySource src(bytes.data(), bytes.size());
  return unpickle(src, "test.pkl", allowed, limits);
}

// pickle.dumps({'a': 1, 'b': [1.5, 'x', None, True, -7, 2**40, b'\x00\xff'], 'c': (1,),
//               'd': collections.OrderedDict([('k', 3)])}, protocol=P)
const std::string kProtocol0 = unhex(
    "286470300a56610a70310a49310a7356620a70320a286c70330a46312e350a6156780a70340a614e614930310a61492d370a614c3130"
    "39393531313632373737364c0a61635f636f646563730a656e636f64650a70350a28565c7530303030ff0a70360a566c6174696e310a"
    "70370a7470380a5270390a617356630a7031300a2849310a747031310a7356640a7031320a63636f6c6c656374696f6e730a4f726465"
    "726564446963740a7031330a2874527031340a566b0a7031350a49330a73732e");
const std::string kProtocol2 = unhex(
    "80027d71002858010000006171014b0158010000006271025d710328473ff800000000000058010000007871044e884af9ffffff8a06"
    "000000000001635f636f646563730a656e636f64650a7105580300000000c3bf710658060000006c6174696e31710786710852710965"
    "580100000063710a4b0185710b580100000064710c63636f6c6c656374696f6e730a4f726465726564446963740a710d2952710e5801"
    "0000006b710f4b0373752e");
const std::string kProtocol4 = unhex(
    "80049568000000000000007d94288c0161944b018c0162945d9428473ff80000000000008c0178944e884af9ffffff8a060000000000"
    "01430200ff94658c0163944b0185948c0164948c0b636f6c6c656374696f6e73948c0b4f726465726564446963749493942952948c01"
    "6b944b0373752e");
// pickle.dumps(E(), protocol=4) where E.__reduce__ returns (os.system, ('true',)).
const std::string kEvil4 = unhex("8004951f000000000000008c05706f736978948c0673797374656d9493948c047472756594859452942e");

void expect_sample_tree(const Document& doc) {
  const Value* root = doc.root();
  ASSERT_EQ(root->kind, Kind::kDict);
  ASSERT_EQ(root->entries.size(), 4u);
  ASSERT_NE(root->get("a"), nullptr);
  EXPECT_EQ(root->get("a")->kind, Kind::kInt);
  EXPECT_EQ(root->get("a")->i, 1);
  const Value* b = root->get("b");
  ASSERT_NE(b, nullptr);
  ASSERT_EQ(b->kind, Kind::kList);
  ASSERT_EQ(b->items.size(), 7u);
  EXPECT_EQ(b->items[0]->kind, Kind::kFloat);
  EXPECT_EQ(b->items[0]->f, 1.5);
  EXPECT_EQ(b->items[1]->str, "x");
  EXPECT_EQ(b->items[2]->kind, Kind::kNone);
  EXPECT_EQ(b->items[3]->kind, Kind::kBool);
  EXPECT_TRUE(b->items[3]->b);
  EXPECT_EQ(b->items[4]->i, -7);
  EXPECT_EQ(b->items[5]->i, int64_t{1} << 40);
  EXPECT_EQ(b->items[6]->kind, Kind::kBytes);
  EXPECT_EQ(b->items[6]->str, std::string("\x00\xff", 2));
  const Value* c = root->get("c");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->kind, Kind::kTuple);
  ASSERT_EQ(c->items.size(), 1u);
  const Value* d = root->get("d");
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->kind, Kind::kDict);
  EXPECT_TRUE(d->ordered);
  ASSERT_NE(d->get("k"), nullptr);
  EXPECT_EQ(d->get("k")->i, 3);
}

TEST(Pickle, Protocol0) { expect_sample_tree(load(kProtocol0)); }
TEST(Pickle, Protocol2) { expect_sample_tree(load(kProtocol2)); }
TEST(Pickle, Protocol4) { expect_sample_tree(load(kProtocol4)); }

TEST(Pickle, RefusesGlobalsOutsideTheAllowList) {
  // GLOBAL (protocol 0..3) and STACK_GLOBAL (protocol 4) spellings.
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"cos\nsystem\n(S'touch /tmp/x'\ntR.", "os.system"},
      {"cposix\nsystem\n(Vtrue\ntR.", "posix.system"},
      {"c__builtin__\neval\n(S'1'\ntR.", "builtins.eval"},
      {"csubprocess\nPopen\n(S'ls'\ntR.", "subprocess.Popen"},
      {"ctorch.nn.modules.linear\nLinear\n)R.", "torch.nn.modules.linear.Linear"},
      {kEvil4, "posix.system"},
  };
  for (const auto& [bytes, name] : cases) {
    EXPECT_ERROR_WITH(load(bytes), "test.pkl", "global '" + name + "'", "nothing was executed");
  }
}

TEST(Pickle, AllowedGlobalsAreRecordedNotCalled) {
  // torch._utils._rebuild_tensor_v2(1, 2) becomes an inert call record.
  Document doc = load("ctorch._utils\n_rebuild_tensor_v2\n(I1\nI2\ntR.");
  EXPECT_TRUE(doc.root()->is_call_of("torch._utils._rebuild_tensor_v2"));
  ASSERT_EQ(doc.root()->items.size(), 2u);
  // The same text with an empty allow list is refused.
  EXPECT_ERROR_WITH(load("ctorch._utils\n_rebuild_tensor_v2\n(I1\nI2\ntR.", {}), "torch._utils._rebuild_tensor_v2");
}

TEST(Pickle, RefusesInstanceOpcodes) {
  EXPECT_ERROR_WITH(load("(ios\nsystem\nS'ls'\n."), "INST/OBJ", "nothing was executed");
  EXPECT_ERROR_WITH(load("\x80\x02\x82\x01."), "EXT1/2/4");
}

TEST(Pickle, TruncatedAtEveryByte) {
  for (const std::string* full : {&kProtocol0, &kProtocol2, &kProtocol4}) {
    for (size_t n = 0; n < full->size(); ++n) {
      EXPECT_THROW(load(full->substr(0, n)), Error) << "prefix of " << n << " bytes";
    }
  }
}

TEST(Pickle, AbsurdLengthsFailBeforeAllocating) {
  // BINUNICODE of 4 GiB - 1, BINBYTES8 of 2^63, LONG4 of 2 GiB: truncation, no allocation.
  EXPECT_ERROR_WITH(load(std::string("\x80\x02X\xff\xff\xff\xff", 7)), "truncated", "4294967295 bytes");
  EXPECT_ERROR_WITH(load(std::string("\x80\x04\x8e\x00\x00\x00\x00\x00\x00\x00\x80", 11)), "truncated");
  EXPECT_ERROR_WITH(load(std::string("\x80\x02\x8b\xff\xff\xff\x7f", 7)), "truncated");
  EXPECT_ERROR_WITH(load(std::string("\x80\x02\x8b\xff\xff\xff\xff", 7)), "negative LONG4");
}

TEST(Pickle, LimitsAreEnforced) {
  Limits limits;
  limits.max_values = 5;
  EXPECT_ERROR_WITH(load(kProtocol2, torch_allowed_globals(), limits), "more than 5 values");
  limits = Limits{};
  limits.max_string_bytes = 4;
  EXPECT_ERROR_WITH(load(kProtocol2, torch_allowed_globals(), limits), "more than 4 bytes of strings");
  limits = Limits{};
  limits.max_stack = 3;
  EXPECT_ERROR_WITH(load("(((((N.", {}, limits), "deeper than 3");
  // Copies through the memo count container slots: a list appended to itself doubles each time.
  limits = Limits{};
  limits.max_items = 1000;
  using namespace std::string_literals;
  std::string doubling = "\x80\x02]q\x00("s;
  for (int i = 0; i < 4; ++i) doubling += "N";
  doubling += "e";
  for (int i = 0; i < 20; ++i) doubling += "(h\x00\x88"s + "e";  // APPENDS adds the list and True
  doubling += "c__builtin__\nset\n";
  for (int i = 0; i < 200; ++i) doubling += "2h\x00\x85R0"s;  // set(list) copies the list 200 times
  doubling += "N.";
  std::set<std::string> with_set = {"builtins.set"};
  EXPECT_ERROR_WITH(load(doubling, with_set, limits), "container slots");
}

TEST(Pickle, MalformedInput) {
  EXPECT_ERROR_WITH(load("h\x05."), "memo key 5");
  EXPECT_ERROR_WITH(load("."), "STOP with an empty stack");
  EXPECT_ERROR_WITH(load("a."), "stack underflow");
  EXPECT_ERROR_WITH(load("\x80\x02N\xff."), "unknown opcode");
  EXPECT_ERROR_WITH(load("\x80\x07N."), "protocol 7");
  EXPECT_ERROR_WITH(load("NNNs."), "SETITEM on a None");
  EXPECT_ERROR_WITH(load("I12x\n."), "INT");
  EXPECT_ERROR_WITH(load("\x80\x02NNN\x86R."), "instead of a named global");
}

TEST(Pickle, TorchMagicNumberIsABigInt) {
  // pickle.dumps(0x1950a86a20f9469cfc6c, protocol=2): LONG1 of 10 bytes.
  Document doc = load(std::string("\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19.", 15), {});
  EXPECT_EQ(doc.root()->kind, Kind::kBigInt);
  EXPECT_EQ(doc.root()->str.size(), 10u);
  // Short LONG1 values sign-extend.
  EXPECT_EQ(load(std::string("\x80\x02\x8a\x01\xff.", 6), {}).root()->i, -1);
  EXPECT_EQ(load(std::string("\x80\x02\x8a\x02\xff\x00.", 7), {}).root()->i, 255);
}

TEST(Pickle, RandomDamageOnlyThrowsErrors) {
  // Deterministic mutations of the valid vectors: each load either succeeds
  // or throws dlrm::Error (never crashes, hangs or throws anything else).
  std::mt19937_64 rng(12345);
  std::printf("seed 12345\n");
  int errors = 0;
  for (int iter = 0; iter < 20000; ++iter) {
    std::string bytes = iter % 3 == 0 ? kProtocol0 : iter % 3 == 1 ? kProtocol2 : kProtocol4;
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) {
      const size_t pos = rng() % bytes.size();
      switch (rng() % 3) {
        case 0: bytes[pos] = static_cast<char>(rng()); break;
        case 1: bytes.erase(pos, 1 + rng() % 4); break;
        default: {
          const char c = static_cast<char>(rng());
          bytes.insert(bytes.begin() + static_cast<std::ptrdiff_t>(pos), c);
          break;
        }
      }
      if (bytes.empty()) bytes.assign(1, 'N');
    }
    try {
      load(bytes);
    } catch (const Error&) {
      ++errors;
    }
  }
  EXPECT_GT(errors, 1000);
}

TEST(Pickle, MaliciousFilesRunNothing) {
  REQUIRE_FIXTURES();
  const std::filesystem::path marker = test::fixtures() / "pwned_marker";
  for (const char* name : {"evil2.pkl", "evil4.pkl"}) {
    std::string bytes = test::read_file(test::fixtures() / name);
    EXPECT_ERROR_WITH(load(bytes), "posix.system", "nothing was executed");
  }
  EXPECT_FALSE(std::filesystem::exists(marker)) << marker << " was created: a pickle ran a command";
}

}  // namespace
}  // namespace dlrm::import::pickle
