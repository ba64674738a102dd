// Progress lines, the terminal progress bar and the metrics CSV. See
// progress.h for the contracts.
#include "worker/progress.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace adamasync {
namespace training {
namespace {

constexpr int kBarWidth = 30;
constexpr auto kRedrawInterval = std::chrono::milliseconds(100);

std::string Field(const std::optional<double>& value, const char* format) {
  return value.has_value() ? fmt::format(fmt::runtime(format), *value) : std::string();
}

}  // namespace

void ProgressReporter::Line(const std::string& text) {
  const bool was_shown = shown_;
  ClearBar();
  spdlog::info("{}", text);
  if (was_shown) {
    spdlog::default_logger()->flush();
    Draw();
  }
}

void ProgressReporter::Bar(double fraction, const std::string& text) {
  if (!progress_bar_) return;
  fraction_ = std::clamp(fraction, 0.0, 1.0);
  text_ = text;
  if (std::chrono::steady_clock::now() - last_draw_ >= kRedrawInterval) Draw();
}

void ProgressReporter::ClearBar() {
  if (!shown_) return;
  std::fputs("\r\033[K", stdout);
  std::fflush(stdout);
  shown_ = false;
}

void ProgressReporter::Draw() {
  if (!progress_bar_) return;
  const int filled = static_cast<int>(fraction_ * kBarWidth + 0.5);
  fmt::print(stdout, "\r\033[K[{}{}] {:3.0f}% {}", std::string(filled, '#'),
             std::string(kBarWidth - filled, '.'), 100 * fraction_, text_);
  std::fflush(stdout);
  shown_ = true;
  last_draw_ = std::chrono::steady_clock::now();
}

absl::StatusOr<std::unique_ptr<MetricsCsv>> MetricsCsv::Open(const std::string& path) {
  std::FILE* file = std::fopen(path.c_str(), "w");
  if (file == nullptr) {
    return absl::InternalError(
        absl::StrCat("cannot create metrics file ", path, ": ", std::strerror(errno)));
  }
  std::unique_ptr<MetricsCsv> csv(new MetricsCsv(path, file));
  if (std::fputs("time_s,epoch,step,examples,train_loss,train_acc,test_acc,test_loss,"
                 "mean_staleness\n",
                 file) < 0 ||
      std::fflush(file) != 0) {
    return absl::InternalError(
        absl::StrCat("cannot write metrics file ", path, ": ", std::strerror(errno)));
  }
  return csv;
}

MetricsCsv::~MetricsCsv() { std::fclose(file_); }

absl::Status MetricsCsv::Write(const MetricsPoint& p) {
  const std::string row =
      fmt::format("{:.3f},{:.4f},{},{},{},{},{},{},{}\n", p.time_s, p.epoch, p.step, p.examples,
                  Field(p.train_loss, "{:.5f}"), Field(p.train_accuracy, "{:.5f}"),
                  Field(p.test_accuracy, "{:.5f}"), Field(p.test_loss, "{:.5f}"),
                  Field(p.mean_staleness, "{:.3f}"));
  if (std::fputs(row.c_str(), file_) < 0 || std::fflush(file_) != 0) {
    return absl::InternalError(
        absl::StrCat("cannot write metrics file ", path_, ": ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

}  // namespace training
}  // namespace adamasync
