// MetricsHttpServer: serves a prometheus-cpp Registry as Prometheus text on
// GET /metrics (and "ok" on GET /healthz) with cpp-httplib, on its own
// thread. Used by the server and worker daemons (--metrics_listen).
//
// Example:
//   auto registry = std::make_shared<prometheus::Registry>();
//   auto http = MetricsHttpServer::Start("0.0.0.0:9100", registry, refresh).value();
#ifndef ADAMASYNC_COMMON_METRICS_HTTP_H_
#define ADAMASYNC_COMMON_METRICS_HTTP_H_

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "prometheus/registry.h"

namespace httplib {
class Server;
}

namespace adamasync {

class MetricsHttpServer {
 public:
  // Listens on "HOST:PORT" (port 0: any free port). `before_scrape`, if set,
  // runs before each scrape (to refresh gauges computed on demand).
  // INVALID_ARGUMENT for a malformed address; UNAVAILABLE if it cannot bind.
  static absl::StatusOr<std::unique_ptr<MetricsHttpServer>> Start(
      const std::string& listen, std::shared_ptr<prometheus::Registry> registry,
      std::function<void()> before_scrape = nullptr);
  ~MetricsHttpServer();
  MetricsHttpServer(const MetricsHttpServer&) = delete;
  MetricsHttpServer& operator=(const MetricsHttpServer&) = delete;

  int port() const { return port_; }

 private:
  MetricsHttpServer() = default;

  std::unique_ptr<httplib::Server> http_;
  std::thread thread_;
  int port_ = 0;
};

// The registry rendered in the Prometheus text exposition format.
std::string RenderMetrics(const prometheus::Registry& registry);

}  // namespace adamasync

#endif  // ADAMASYNC_COMMON_METRICS_HTTP_H_
