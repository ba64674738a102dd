#include "server/part_state.h"

#include <algorithm>
#include <cstring>
#include <new>

#include "absl/strings/str_cat.h"
#include "common/aligned_buffer.h"
#include "common/initializer.h"

namespace adamasync {
namespace {

class HostPartState final : public PartState {
 public:
  HostPartState(const TableSpec& spec, ElementRange range)
      : p_(range.size()),
        m_(range.size()),
        v_(range.size()),
        vmax_(spec.adam.amsgrad ? range.size() : 0) {
    FillInitialValues(spec.init, range.begin, absl::MakeSpan(p_.data(), p_.size()));
  }

  uint64_t size() const override { return p_.size(); }
  uint64_t bytes() const override { return p_.bytes() + m_.bytes() + v_.bytes() + vmax_.bytes(); }

  absl::Status Step(const kernels::AdamScalars& s, uint64_t begin, uint64_t n,
                    const float* grad) override {
    kernels::AdamSpan state{p_.data() + begin, m_.data() + begin, v_.data() + begin,
                            vmax_.size() != 0 ? vmax_.data() + begin : nullptr};
    kernels::AdamCpu(s, grad, state, n);
    return absl::OkStatus();
  }

  absl::Status ReadParameters(uint64_t begin, uint64_t n, void* out) const override {
    std::memcpy(out, p_.data() + begin, n * sizeof(float));
    return absl::OkStatus();
  }

  absl::Status WriteParameters(uint64_t begin, uint64_t n, const float* values) override {
    std::copy_n(values, n, p_.data() + begin);
    return absl::OkStatus();
  }

  absl::Status ReadState(uint64_t begin, uint64_t n, StateSlice out) const override {
    std::copy_n(p_.data() + begin, n, out.p);
    std::copy_n(m_.data() + begin, n, out.m);
    std::copy_n(v_.data() + begin, n, out.v);
    if (vmax_.size() != 0) std::copy_n(vmax_.data() + begin, n, out.vmax);
    return absl::OkStatus();
  }

  absl::Status WriteState(uint64_t begin, uint64_t n, ConstStateSlice in) override {
    std::copy_n(in.p, n, p_.data() + begin);
    std::copy_n(in.m, n, m_.data() + begin);
    std::copy_n(in.v, n, v_.data() + begin);
    if (vmax_.size() != 0) std::copy_n(in.vmax, n, vmax_.data() + begin);
    return absl::OkStatus();
  }

 private:
  AlignedFloats p_, m_, v_, vmax_;
};

class HostBackend final : public StateBackend {
 public:
  std::string Describe() const override {
    return absl::StrCat("cpu (", kernels::AdamCpuTargetName(), ")");
  }

  absl::StatusOr<std::unique_ptr<PartState>> Allocate(const TableSpec& spec,
                                                      ElementRange range) override {
    try {
      return std::make_unique<HostPartState>(spec, range);
    } catch (const std::bad_alloc&) {
      return absl::ResourceExhaustedError(absl::StrCat("could not allocate the host state of ",
                                                       range.size(), " elements of table '",
                                                       spec.name, "'"));
    }
  }

  absl::Status Health() const override { return absl::OkStatus(); }
};

}  // namespace

std::shared_ptr<StateBackend> HostStateBackend() {
  static const std::shared_ptr<StateBackend> backend = std::make_shared<HostBackend>();
  return backend;
}

}  // namespace adamasync
