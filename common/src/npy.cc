#include "dlrm/common/npy.h"

#include <cerrno>
#include <cstring>
#include <memory>
#include <regex>

#include "dlrm/common/error.h"
#include "dlrm/common/staged_output.h"

namespace fs = std::filesystem;

namespace dlrm {

namespace {

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};
using FilePtr = std::unique_ptr<std::FILE, FileCloser>;

FilePtr open_for_read(const fs::path& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  DLRM_CHECK(f != nullptr, "cannot open {}: {}", path.string(), std::strerror(errno));
  return FilePtr(f);
}

// Value of `key` in a Python dict literal such as
// {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }
std::string dict_value(const std::string& dict, const std::string& key, const fs::path& path) {
  std::string quoted = "'" + key + "'";
  size_t pos = dict.find(quoted);
  if (pos == std::string::npos) {
    quoted = "\"" + key + "\"";
    pos = dict.find(quoted);
  }
  DLRM_CHECK(pos != std::string::npos, "{}: .npy header has no '{}' entry: {}", path.string(), key, dict);
  pos = dict.find(':', pos + quoted.size());
  DLRM_CHECK(pos != std::string::npos, "{}: malformed .npy header near '{}'", path.string(), key);
  ++pos;
  while (pos < dict.size() && dict[pos] == ' ') ++pos;
  size_t end;
  if (pos < dict.size() && dict[pos] == '(') {
    end = dict.find(')', pos);
    DLRM_CHECK(end != std::string::npos, "{}: malformed shape in .npy header", path.string());
    ++end;
  } else if (pos < dict.size() && (dict[pos] == '\'' || dict[pos] == '"')) {
    end = dict.find(dict[pos], pos + 1);
    DLRM_CHECK(end != std::string::npos, "{}: malformed '{}' in .npy header", path.string(), key);
    return dict.substr(pos + 1, end - pos - 1);
  } else {
    end = dict.find_first_of(",}", pos);
    DLRM_CHECK(end != std::string::npos, "{}: malformed '{}' in .npy header", path.string(), key);
  }
  std::string value = dict.substr(pos, end - pos);
  while (!value.empty() && value.back() == ' ') value.pop_back();
  return value;
}

}  // namespace

int64_t NpyHeader::count() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::string NpyHeader::shape_str() const {
  std::string s = "(";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + ")";
}

NpyHeader parse_npy_header(const std::string& bytes, const fs::path& path, uint64_t data_bytes) {
  DLRM_CHECK(bytes.size() >= 10 && std::memcmp(bytes.data(), "\x93NUMPY", 6) == 0,
             "{} is not a .npy file (bad magic); expected an array saved by numpy.save", path.string());
  int major = static_cast<unsigned char>(bytes[6]);
  size_t header_len, prefix;
  if (major == 1) {
    header_len = static_cast<unsigned char>(bytes[8]) | (static_cast<unsigned char>(bytes[9]) << 8);
    prefix = 10;
  } else if (major == 2 || major == 3) {
    DLRM_CHECK(bytes.size() >= 12, "{} is truncated inside the .npy header", path.string());
    uint32_t len;
    std::memcpy(&len, bytes.data() + 8, 4);
    header_len = len;
    prefix = 12;
  } else {
    DLRM_FAIL("{}: unsupported .npy format version {}; save with numpy >= 1.0 format 1, 2 or 3",
              path.string(), major);
  }
  DLRM_CHECK(bytes.size() >= prefix + header_len, "{} is truncated inside the .npy header", path.string());
  std::string dict = bytes.substr(prefix, header_len);

  NpyHeader h;
  h.path = path;
  h.data_offset = prefix + header_len;
  h.descr = dict_value(dict, "descr", path);
  std::string order = dict_value(dict, "fortran_order", path);
  DLRM_CHECK(order == "False" || order == "True", "{}: bad fortran_order '{}' in .npy header",
             path.string(), order);
  h.fortran_order = order == "True";
  DLRM_CHECK(!h.fortran_order,
             "{} holds a Fortran-order (non-C-order) array; save it with np.ascontiguousarray first",
             path.string());
  static const std::regex kDescr(R"(^([<>|=])([fiub])([1248])$)");
  std::smatch m;
  DLRM_CHECK(std::regex_match(h.descr, m, kDescr),
             "{}: unsupported dtype '{}'; expected a little-endian float or integer array",
             path.string(), h.descr);
  h.kind = m[2].str()[0];
  h.item_bytes = std::stoi(m[3].str());
  DLRM_CHECK(m[1].str() != ">" || h.item_bytes == 1, "{}: big-endian dtype '{}' is not supported",
             path.string(), h.descr);

  std::string shape = dict_value(dict, "shape", path);
  DLRM_CHECK(shape.size() >= 2 && shape.front() == '(' && shape.back() == ')',
             "{}: malformed shape '{}' in .npy header", path.string(), shape);
  std::string inner = shape.substr(1, shape.size() - 2);
  size_t pos = 0;
  while (pos < inner.size()) {
    size_t comma = inner.find(',', pos);
    std::string tok = inner.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    tok.erase(0, tok.find_first_not_of(' '));
    while (!tok.empty() && (tok.back() == ' ' || tok.back() == 'L')) tok.pop_back();
    if (!tok.empty()) {
      DLRM_CHECK(tok.find_first_not_of("0123456789") == std::string::npos,
                 "{}: malformed shape '{}' in .npy header", path.string(), shape);
      DLRM_CHECK(tok.size() <= 18, "{}: shape '{}' in .npy header has a dimension too large", path.string(), shape);
      h.shape.push_back(std::stoll(tok));
    }
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  // count() * item_bytes must fit int64 (every dimension is below 10^18).
  int64_t elements = 1;
  for (int64_t d : h.shape) {
    DLRM_CHECK(!__builtin_mul_overflow(elements, d, &elements) && elements <= INT64_MAX / 8,
               "{}: shape {} in .npy header holds more elements than any file can", path.string(), h.shape_str());
  }
  uint64_t expect = static_cast<uint64_t>(h.count()) * h.item_bytes;
  DLRM_CHECK(data_bytes == expect,
             "{} is {}: shape {} of {} needs {} data bytes, found {}", path.string(),
             data_bytes < expect ? "truncated" : "longer than its header says", h.shape_str(), h.descr,
             expect, data_bytes);
  return h;
}

NpyHeader read_npy_header(const fs::path& path) {
  std::error_code ec;
  DLRM_CHECK(fs::is_regular_file(path, ec), "{} does not exist or is not a file", path.string());
  uint64_t file_bytes = fs::file_size(path, ec);
  auto f = open_for_read(path);
  std::string head(12, '\0');
  size_t n = std::fread(head.data(), 1, head.size(), f.get());
  head.resize(n);
  DLRM_CHECK(n >= 10 && std::memcmp(head.data(), "\x93NUMPY", 6) == 0,
             "{} is not a .npy file (bad magic); expected an array saved by numpy.save", path.string());
  uint64_t header_len = head[6] == 1 ? (static_cast<unsigned char>(head[8]) |
                                        (static_cast<unsigned char>(head[9]) << 8)) + 10
                                     : 0;
  if (head[6] != 1) {
    uint32_t len = 0;
    if (n >= 12) std::memcpy(&len, head.data() + 8, 4);
    header_len = static_cast<uint64_t>(len) + 12;
  }
  DLRM_CHECK(header_len <= file_bytes && header_len < (1u << 24), "{} is truncated inside the .npy header",
             path.string());
  std::string all(header_len, '\0');
  read_exact(f.get(), path, all.data(), header_len, 0, "the .npy header");
  return parse_npy_header(all, path, file_bytes - header_len);
}

std::string npy_header_bytes(const std::string& descr, const std::vector<int64_t>& shape) {
  std::string s;
  for (size_t i = 0; i < shape.size(); ++i) s += fmt::format("{},", shape[i]);
  if (shape.size() > 1) s.pop_back();  // "(3,)" for 1-D, "(3,4)" otherwise
  std::string dict = fmt::format("{{'descr': '{}', 'fortran_order': False, 'shape': ({}), }}", descr, s);
  size_t total = 10 + dict.size() + 1;
  size_t padded = (total + 63) / 64 * 64;
  dict.append(padded - total, ' ');
  dict.push_back('\n');
  std::string out("\x93NUMPY\x01\x00", 8);
  uint16_t len = static_cast<uint16_t>(dict.size());
  out.push_back(static_cast<char>(len & 0xff));
  out.push_back(static_cast<char>(len >> 8));
  return out + dict;
}

std::vector<float> read_npy_f32(const fs::path& path, std::vector<int64_t>* shape) {
  NpyHeader h = read_npy_header(path);
  DLRM_CHECK(h.kind == 'f' && h.item_bytes == 4, "{} holds {} values; expected float32 ('<f4')",
             path.string(), h.descr);
  std::vector<float> values(static_cast<size_t>(h.count()));
  auto f = open_for_read(path);
  read_exact(f.get(), path, values.data(), values.size() * sizeof(float), h.data_offset, "the array");
  if (shape) *shape = h.shape;
  return values;
}

void write_npy_f32(const fs::path& path, const float* src, const std::vector<int64_t>& shape) {
  int64_t count = 1;
  for (int64_t d : shape) count *= d;
  StagedFile out(path);
  std::string header = npy_header_bytes("<f4", shape);
  out.write(header.data(), header.size());
  out.write(src, static_cast<size_t>(count) * sizeof(float));
  out.commit();
}

}  // namespace dlrm
