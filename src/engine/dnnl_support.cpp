#include "engine/dnnl_support.h"

#include <omp.h>

#include <cstdlib>
#include <cstring>
#include <new>

#include "util/error.h"

namespace binscan::engine_internal {

dnnl::engine& cpu_engine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

dnnl::primitive_attr strict_attr() {
  dnnl::primitive_attr attr;
  attr.set_fpmath_mode(dnnl::fpmath_mode::strict);
  return attr;
}

dnnl::primitive_attr strict_attr(const dnnl::post_ops& ops) {
  dnnl::primitive_attr attr = strict_attr();
  attr.set_post_ops(ops);
  return attr;
}

void append_activation(dnnl::post_ops& ops, Activation act) {
  using dnnl::algorithm;
  switch (act) {
    case Activation::kGelu:
      ops.append_eltwise(1.f, algorithm::eltwise_gelu_erf, 0.f, 0.f);
      return;
    case Activation::kGeluTanh:
      ops.append_eltwise(1.f, algorithm::eltwise_gelu_tanh, 0.f, 0.f);
      return;
    case Activation::kRelu:
      ops.append_eltwise(1.f, algorithm::eltwise_relu, 0.f, 0.f);
      return;
    case Activation::kSilu:  // x * sigmoid(x)
      ops.append_eltwise(1.f, algorithm::eltwise_swish, 1.f, 0.f);
      return;
    case Activation::kQuickGelu:  // x * sigmoid(1.702 x)
      ops.append_eltwise(1.f, algorithm::eltwise_swish, 1.702f, 0.f);
      return;
  }
  throw Error(ErrorKind::kInternal, "", "unknown activation");
}

dnnl::memory::desc plain_desc(const dims& shape) {
  static constexpr tag kTags[] = {tag::undef, tag::a, tag::ab, tag::abc, tag::abcd, tag::abcde};
  if (shape.empty() || shape.size() > 5) throw Error(ErrorKind::kInternal, "", "bad tensor rank");
  return dnnl::memory::desc(shape, dt::f32, kTags[shape.size()]);
}

dnnl::memory prepare_weights(const std::vector<float>& plain, const dnnl::memory::desc& from,
                             const dnnl::memory::desc& to) {
  dnnl::memory out(to, cpu_engine());
  if (from == to) {
    std::memcpy(out.get_data_handle(), plain.data(), to.get_size());
    return out;
  }
  dnnl::memory src = wrap(from, plain.data());
  dnnl::stream stream(cpu_engine());
  dnnl::reorder(src, out).execute(stream, src, out);
  stream.wait();
  return out;
}

dnnl::memory wrap(const dnnl::memory::desc& desc, const float* data) {
  return dnnl::memory(desc, cpu_engine(), const_cast<float*>(data));
}

void set_threads(int threads) {
  if (threads > 0) omp_set_num_threads(threads);
}

void run_guarded(const std::string& what, const std::function<void()>& fn) {
  try {
    fn();
  } catch (const dnnl::error& e) {
    throw Error(ErrorKind::kInternal, what, std::string("oneDNN: ") + e.what());
  }
}

std::size_t float_count(const dnnl::memory::desc& desc) { return desc.get_size() / sizeof(float); }

Buffer::Buffer(std::size_t floats) : size_(floats) {
  // 64-byte alignment: a cache line, and what oneDNN's AVX-512 kernels like best.
  const std::size_t bytes = ((floats * sizeof(float) + 63) / 64) * 64;
  void* p = std::aligned_alloc(64, bytes == 0 ? 64 : bytes);
  if (p == nullptr) throw std::bad_alloc();
  data_.reset(static_cast<float*>(p));
}

void Buffer::Free::operator()(float* p) const { std::free(p); }

}  // namespace binscan::engine_internal
