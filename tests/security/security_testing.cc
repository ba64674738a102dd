#include "tests/security/security_testing.h"

#include <grpcpp/create_channel.h>
#include <stdlib.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/tls_config.h"

namespace adamasync {
namespace testing_security {
namespace {

absl::Status Run(const std::string& command) {
  const std::string quiet = command + " >/dev/null 2>&1";
  if (std::system(quiet.c_str()) != 0) {
    return absl::InternalError(absl::StrCat("command failed: ", command));
  }
  return absl::OkStatus();
}

// A CA certificate and key: <name>.pem, <name>.key.
absl::Status MakeCa(const std::string& dir, const std::string& name) {
  return Run(absl::StrCat(
      "cd '", dir, "' && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 ",
      "-nodes -days 2 -subj /CN=", name, " -keyout ", name, ".key -out ", name, ".pem ",
      "-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign"));
}

// A leaf certificate <name>.pem (key <name>.key) signed by CA <ca>.
absl::Status MakeLeaf(const std::string& dir, const std::string& name, const std::string& ca,
                      const std::string& extensions) {
  {
    std::ofstream ext(absl::StrCat(dir, "/", name, ".ext"));
    ext << extensions << "\n";
  }
  return Run(absl::StrCat(
      "cd '", dir, "' && openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes ",
      "-subj /CN=", name, " -keyout ", name, ".key -out ", name, ".csr && ",
      "openssl x509 -req -in ", name, ".csr -CA ", ca, ".pem -CAkey ", ca,
      ".key -CAcreateserial -days 2 -out ", name, ".pem -extfile ", name, ".ext"));
}

}  // namespace

TempDir::TempDir() {
  std::string pattern = (std::filesystem::temp_directory_path() / "adamasync-sec-XXXXXX").string();
  if (mkdtemp(pattern.data()) == nullptr) std::abort();
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

absl::StatusOr<Pki> MakePki(const std::string& dir) {
  if (absl::Status s = MakeCa(dir, "ca"); !s.ok()) return s;
  if (absl::Status s = MakeCa(dir, "rogue_ca"); !s.ok()) return s;
  if (absl::Status s = MakeLeaf(dir, "server", "ca",
                                "subjectAltName=DNS:localhost,IP:127.0.0.1\n"
                                "extendedKeyUsage=serverAuth");
      !s.ok()) {
    return s;
  }
  if (absl::Status s = MakeLeaf(dir, "client", "ca", "extendedKeyUsage=clientAuth"); !s.ok()) {
    return s;
  }
  if (absl::Status s = MakeLeaf(dir, "rogue_client", "rogue_ca", "extendedKeyUsage=clientAuth");
      !s.ok()) {
    return s;
  }
  Pki pki;
  pki.dir = dir;
  pki.ca = dir + "/ca.pem";
  pki.server_cert = dir + "/server.pem";
  pki.server_key = dir + "/server.key";
  pki.client_cert = dir + "/client.pem";
  pki.client_key = dir + "/client.key";
  pki.rogue_ca = dir + "/rogue_ca.pem";
  pki.rogue_client_cert = dir + "/rogue_client.pem";
  pki.rogue_client_key = dir + "/rogue_client.key";
  return pki;
}

std::string RandomToken() {
  std::random_device device;
  std::string token;
  for (int i = 0; i < 8; ++i) token += absl::StrFormat("%08x", device());
  return token;
}

void WriteFileAtomically(const std::string& path, const std::string& contents) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << contents;
  }
  std::filesystem::rename(tmp, path);
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::shared_ptr<grpc::Channel> Channel(int port,
                                       const std::shared_ptr<grpc::ChannelCredentials>& creds) {
  grpc::ChannelArguments args;
  // A fresh connection per channel: tests compare credentials, so channels
  // must not share a subchannel (and its handshake).
  args.SetInt("grpc.use_local_subchannel_pool", 1);
  return grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", port), creds, args);
}

std::shared_ptr<grpc::ChannelCredentials> TlsCredentials(const std::string& ca_file,
                                                         const std::string& cert_file,
                                                         const std::string& key_file) {
  ClientTlsOptions tls;
  tls.ca_file = ca_file;
  tls.cert_file = cert_file;
  tls.key_file = key_file;
  return MakeChannelCredentials(tls, nullptr).value();
}

v1::CreateTableRequest CreateRequest(const std::string& name, uint64_t n) {
  v1::CreateTableRequest request;
  request.mutable_view()->set_shard_index(0);
  request.mutable_view()->set_num_shards(1);
  v1::TableSpec* spec = request.mutable_spec();
  spec->set_name(name);
  spec->set_num_elements(n);
  v1::AdamConfig* adam = spec->mutable_adam();
  adam->set_algorithm(v1::ALGORITHM_ADAM);
  adam->set_lr(1e-3);
  adam->set_beta1(0.9);
  adam->set_beta2(0.999);
  adam->set_eps(1e-8);
  spec->mutable_init()->set_kind(v1::INIT_UNIFORM);
  spec->mutable_init()->set_a(-1);
  spec->mutable_init()->set_b(1);
  spec->mutable_init()->set_seed(7);
  return request;
}

bool SameState(const TablePartSnapshot& a, const TablePartSnapshot& b) {
  auto same_bits = [](const std::vector<float>& x, const std::vector<float>& y) {
    return x.size() == y.size() &&
           (x.empty() || std::memcmp(x.data(), y.data(), x.size() * sizeof(float)) == 0);
  };
  if (!same_bits(a.p, b.p) || !same_bits(a.m, b.m) || !same_bits(a.v, b.v) ||
      !same_bits(a.vmax, b.vmax) || a.segment_steps != b.segment_steps ||
      a.dedupe.size() != b.dedupe.size() || a.sync_pending.size() != b.sync_pending.size()) {
    return false;
  }
  for (size_t i = 0; i < a.sync_pending.size(); ++i) {
    if (a.sync_pending[i].worker_id != b.sync_pending[i].worker_id ||
        !same_bits(a.sync_pending[i].gradient, b.sync_pending[i].gradient)) {
      return false;
    }
  }
  return true;
}

}  // namespace testing_security
}  // namespace adamasync
