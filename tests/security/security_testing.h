// Helpers of the security tests: a throwaway PKI made with the openssl CLI
// at test time (no private key is ever committed), token files, and a
// one-shard server on loopback with raw stubs.
#ifndef ADAMASYNC_TESTS_SECURITY_SECURITY_TESTING_H_
#define ADAMASYNC_TESTS_SECURITY_SECURITY_TESTING_H_

#include <grpcpp/channel.h>
#include <grpcpp/security/credentials.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "adamasync/v1/parameter_server.grpc.pb.h"
#include "server/table_part.h"

namespace adamasync {
namespace testing_security {

// A fresh temporary directory, removed (with its contents) on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Certificates and keys (PEM files in one directory):
//   ca.pem               the trusted CA
//   server.pem/.key      signed by ca, for DNS:localhost and IP:127.0.0.1
//   client.pem/.key      signed by ca (clientAuth)
//   rogue_ca.pem         another CA
//   rogue_client.pem/.key  signed by rogue_ca
struct Pki {
  std::string dir;
  std::string ca, server_cert, server_key, client_cert, client_key;
  std::string rogue_ca, rogue_client_cert, rogue_client_key;
};

// Runs openssl to make the files above in `dir` (EC P-256, valid 2 days).
absl::StatusOr<Pki> MakePki(const std::string& dir);

// A random 64-hex-character token.
std::string RandomToken();

// Writes `contents` to `path` atomically (temp file + rename, as a secret
// rotation would), so a concurrent reload never sees half a file.
void WriteFileAtomically(const std::string& path, const std::string& contents);

std::string ReadFile(const std::string& path);

// Channel to 127.0.0.1:port with the given credentials.
std::shared_ptr<grpc::Channel> Channel(int port,
                                       const std::shared_ptr<grpc::ChannelCredentials>& creds);

// TLS channel credentials trusting `ca_file`, optionally with a client cert.
std::shared_ptr<grpc::ChannelCredentials> TlsCredentials(const std::string& ca_file,
                                                         const std::string& cert_file = "",
                                                         const std::string& key_file = "");

// A one-shard CreateTable request for `name` with `n` elements.
v1::CreateTableRequest CreateRequest(const std::string& name, uint64_t n);

// True when both snapshots hold the same bits (parameters, moments,
// versions, sync contributions).
bool SameState(const TablePartSnapshot& a, const TablePartSnapshot& b);

}  // namespace testing_security
}  // namespace adamasync

#endif  // ADAMASYNC_TESTS_SECURITY_SECURITY_TESTING_H_
