// Fixed-buffer JSON writer.
//
// Why hand-written: the original sketch concatenated Strings and shipped invalid JSON (a missing
// comma). This writer owns every comma, quote and escape, never allocates, and never lets a
// truncated document out: on overflow it flags failure and the caller gets nothing, or rolls back
// to a mark and closes the document cleanly (how batches take "as many readings as fit").
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace iotgw {

class JsonWriter {
 public:
  // One level per nested object/array; readings are flat, batches add two levels.
  static constexpr int kMaxDepth = 8;

  JsonWriter(char* buf, size_t cap);

  void begin_object();
  void end_object();
  void begin_array();
  void end_array();
  void key(const char* k);

  void value_string(const char* s);
  void value_uint(uint64_t v);
  void value_int(int64_t v);
  // NaN and +-Inf become null: JSON has no spelling for them.
  void value_double(double v, int decimals);
  void value_bool(bool v);
  void value_null();

  // key + value shorthands, so a payload reads like a list of fields.
  void field_string(const char* k, const char* s) { key(k); value_string(s); }
  void field_uint(const char* k, uint64_t v) { key(k); value_uint(v); }
  void field_int(const char* k, int64_t v) { key(k); value_int(v); }
  void field_double(const char* k, double v, int decimals) { key(k); value_double(v, decimals); }
  void field_bool(const char* k, bool v) { key(k); value_bool(v); }

  struct Mark {
    size_t len;
    int depth;
    uint32_t first_bits;
  };
  Mark mark() const { return Mark{len_, depth_, first_bits_}; }
  // Restores the writer to a mark taken earlier, clearing an overflow that happened after it.
  void rollback(const Mark& m);

  // False once anything did not fit (or nesting was wrong); the text is then unusable.
  bool ok() const { return ok_; }
  // Room left, keeping one byte for the terminating NUL.
  size_t remaining() const { return ok_ ? cap_ - 1 - len_ : 0; }
  size_t size() const { return len_; }
  // Length of a complete document, or 0 (and an empty string in the buffer) if it is not one.
  size_t finish();

 private:
  void put(char c);
  void put_raw(const char* s, size_t n);
  void before_value();
  void put_escaped(const char* s);
  void push(char open);
  void pop(char close);

  char* buf_;
  size_t cap_;
  size_t len_ = 0;
  int depth_ = 0;
  // Bit d set: the container at depth d has no element yet (so no comma before the next one).
  uint32_t first_bits_ = 0;
  bool after_key_ = false;
  bool ok_;
};

}  // namespace iotgw
