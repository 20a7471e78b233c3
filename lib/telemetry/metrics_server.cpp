#include "telemetry/metrics_server.hpp"

#include <httplib.h>

#include <chrono>

#include <fmt/format.h>

#include "core/errors.hpp"

namespace sipshield {

MetricsServer::MetricsServer(const std::string& address, uint16_t port)
    : server_(std::make_unique<httplib::Server>()) {
  server_->new_task_queue = [] { return new httplib::ThreadPool(2); };
  // SO_REUSEADDR only: httplib's default also sets SO_REUSEPORT, which would let a second daemon
  // share the port and answer half the scrapes.
  server_->set_socket_options([](socket_t sock) {
    const int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  server_->Get("/metrics", [this](const httplib::Request&, httplib::Response& response) {
    std::lock_guard lock(mutex_);
    response.set_content(exposition_, "text/plain; version=0.0.4; charset=utf-8");
  });
  server_->Get("/", [](const httplib::Request&, httplib::Response& response) {
    response.set_content("sipshield: metrics at /metrics\n", "text/plain");
  });
  if (!server_->bind_to_port(address, port))
    throw DataplaneError(fmt::format(
        "metrics: cannot listen on {}:{} (in use by another program? set metrics.port, or "
        "metrics.enabled false)",
        address, port));
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  // httplib's stop() does nothing before the listening loop runs: a daemon stopping right after
  // its start would then wait on that loop for ever. Wait for it (it starts in microseconds).
  for (int i = 0; i < 2000 && !server_->is_running(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

MetricsServer::~MetricsServer() {
  server_->stop();
  if (thread_.joinable()) thread_.join();
}

void MetricsServer::publish(std::string exposition) {
  std::lock_guard lock(mutex_);
  exposition_ = std::move(exposition);
}

}  // namespace sipshield
