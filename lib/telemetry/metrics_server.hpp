// The Prometheus endpoint: GET /metrics on a control thread of its own (cpp-httplib), never a
// worker. The main lcore publishes a new exposition about once a second; a scrape reads the
// last one, so a scrape never waits on the data path.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace httplib {
class Server;
}

namespace sipshield {

class MetricsServer {
 public:
  // Listens on address:port before returning; DataplaneError naming both when it cannot.
  MetricsServer(const std::string& address, uint16_t port);
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  void publish(std::string exposition);

 private:
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  std::mutex mutex_;
  std::string exposition_;
};

}  // namespace sipshield
