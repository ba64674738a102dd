// TLS and mutual TLS on a real loopback port, with certificates made by the
// openssl CLI at test time: who can connect, who cannot, and that the SDK's
// TLS options work end to end.
#include <grpcpp/create_channel.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "adamasync/client.h"
#include "common/tls_config.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "server/shard_server.h"
#include "tests/security/security_testing.h"

namespace adamasync {
namespace {

using testing_security::Channel;
using testing_security::CreateRequest;
using testing_security::Pki;
using testing_security::TempDir;
using testing_security::TlsCredentials;

class TransportTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    auto pki = testing_security::MakePki(dir_->path());
    ASSERT_TRUE(pki.ok()) << pki.status() << " (is the openssl CLI installed?)";
    pki_ = new Pki(*pki);
  }
  static void TearDownTestSuite() {
    delete pki_;
    delete dir_;
  }

  std::unique_ptr<ShardServer> StartServer(bool mutual) {
    ShardServerOptions options;
    options.listen = "127.0.0.1:0";
    options.tls.cert_file = pki_->server_cert;
    options.tls.key_file = pki_->server_key;
    if (mutual) options.tls.client_ca_file = pki_->ca;
    auto server = ShardServer::Start(options);
    EXPECT_TRUE(server.ok()) << server.status();
    return server.ok() ? std::move(*server) : nullptr;
  }

  // The status of one CreateTable over `creds` (short deadline: a refused
  // handshake shows as UNAVAILABLE or DEADLINE_EXCEEDED).
  grpc::StatusCode CreateOver(int port, const std::shared_ptr<grpc::ChannelCredentials>& creds,
                              const std::string& table = "t") {
    auto stub = v1::ParameterServer::NewStub(Channel(port, creds));
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    v1::CreateTableResponse response;
    return stub->CreateTable(&context, CreateRequest(table, 100), &response).error_code();
  }

  static TempDir* dir_;
  static Pki* pki_;
};

TempDir* TransportTest::dir_ = nullptr;
Pki* TransportTest::pki_ = nullptr;

TEST_F(TransportTest, TlsClientTrustingTheCaConnects) {
  auto server = StartServer(/*mutual=*/false);
  ASSERT_NE(server, nullptr);
  EXPECT_EQ(CreateOver(server->port(), TlsCredentials(pki_->ca)), grpc::StatusCode::OK);
}

TEST_F(TransportTest, PlaintextClientIsRefusedByATlsServer) {
  auto server = StartServer(/*mutual=*/false);
  ASSERT_NE(server, nullptr);
  const grpc::StatusCode code = CreateOver(server->port(), grpc::InsecureChannelCredentials());
  EXPECT_TRUE(code == grpc::StatusCode::UNAVAILABLE || code == grpc::StatusCode::DEADLINE_EXCEEDED)
      << code;
  EXPECT_TRUE(server->store()->Stats().empty());
}

TEST_F(TransportTest, ClientTrustingAnotherCaRefusesTheServer) {
  auto server = StartServer(/*mutual=*/false);
  ASSERT_NE(server, nullptr);
  const grpc::StatusCode code = CreateOver(server->port(), TlsCredentials(pki_->rogue_ca));
  EXPECT_TRUE(code == grpc::StatusCode::UNAVAILABLE || code == grpc::StatusCode::DEADLINE_EXCEEDED)
      << code;
  EXPECT_TRUE(server->store()->Stats().empty());
}

TEST_F(TransportTest, MutualTlsNeedsAClientCertificateFromTheRightCa) {
  auto server = StartServer(/*mutual=*/true);
  ASSERT_NE(server, nullptr);
  auto refused = [](grpc::StatusCode code) {
    return code == grpc::StatusCode::UNAVAILABLE || code == grpc::StatusCode::DEADLINE_EXCEEDED;
  };
  // No client certificate.
  EXPECT_TRUE(refused(CreateOver(server->port(), TlsCredentials(pki_->ca))));
  // A client certificate signed by another CA.
  EXPECT_TRUE(refused(CreateOver(
      server->port(), TlsCredentials(pki_->ca, pki_->rogue_client_cert, pki_->rogue_client_key))));
  EXPECT_TRUE(server->store()->Stats().empty());
  // The right one.
  EXPECT_EQ(
      CreateOver(server->port(), TlsCredentials(pki_->ca, pki_->client_cert, pki_->client_key)),
      grpc::StatusCode::OK);
  EXPECT_EQ(server->store()->Stats().size(), 1u);
}

TEST_F(TransportTest, SdkTrainsOverMutualTls) {
  auto server = StartServer(/*mutual=*/true);
  ASSERT_NE(server, nullptr);
  ClientOptions options;
  options.servers = {absl::StrCat("127.0.0.1:", server->port())};
  options.deadline = absl::Seconds(10);
  options.tls.ca_file = pki_->ca;
  options.tls.cert_file = pki_->client_cert;
  options.tls.key_file = pki_->client_key;
  auto client = Client::Create(options);
  ASSERT_TRUE(client.ok()) << client.status();
  TableSpec spec;
  spec.name = "w";
  spec.num_elements = 1000;
  ASSERT_TRUE((*client)->CreateTable(spec).ok());
  std::vector<float> w(1000), g(1000, 0.5f);
  auto pulled = (*client)->Pull("w", absl::MakeSpan(w));
  ASSERT_TRUE(pulled.ok()) << pulled.status();
  auto pushed = (*client)->Push("w", g, *pulled);
  ASSERT_TRUE(pushed.ok()) << pushed.status();
  EXPECT_EQ(pushed->per_shard[0], 1u);

  // The same with PEM text, and a server name override (the certificate
  // names localhost too).
  options.tls = ClientTlsOptions();
  options.tls.ca_pem = testing_security::ReadFile(pki_->ca);
  options.tls.cert_pem = testing_security::ReadFile(pki_->client_cert);
  options.tls.key_pem = testing_security::ReadFile(pki_->client_key);
  options.tls.server_name = "localhost";
  auto pem_client = Client::Create(options);
  ASSERT_TRUE(pem_client.ok()) << pem_client.status();
  EXPECT_TRUE((*pem_client)->Pull("w", absl::MakeSpan(w)).ok());
}

TEST_F(TransportTest, SdkWithoutClientCertificateFailsAgainstMutualTls) {
  auto server = StartServer(/*mutual=*/true);
  ASSERT_NE(server, nullptr);
  ClientOptions options;
  options.servers = {absl::StrCat("127.0.0.1:", server->port())};
  options.deadline = absl::Seconds(2);
  options.tls.ca_file = pki_->ca;
  auto client = Client::Create(options);
  ASSERT_TRUE(client.ok()) << client.status();
  TableSpec spec;
  spec.name = "w";
  spec.num_elements = 10;
  const absl::Status status = (*client)->CreateTable(spec);
  EXPECT_TRUE(absl::IsUnavailable(status) || absl::IsDeadlineExceeded(status)) << status;
}

TEST(TlsConfigTest, BadSettingsAreReportedNotCrashed) {
  ServerTlsOptions server;
  server.cert_file = "/nonexistent/cert.pem";
  EXPECT_EQ(MakeServerCredentials(server).status().code(), absl::StatusCode::kInvalidArgument);
  server.key_file = "/nonexistent/key.pem";
  EXPECT_EQ(MakeServerCredentials(server).status().code(), absl::StatusCode::kNotFound);
  ServerTlsOptions ca_only;
  ca_only.client_ca_file = "/x";
  EXPECT_EQ(MakeServerCredentials(ca_only).status().code(), absl::StatusCode::kInvalidArgument);

  ClientTlsOptions client;
  client.cert_pem = "-----BEGIN CERTIFICATE-----";
  EXPECT_EQ(MakeChannelCredentials(client, nullptr).status().code(),
            absl::StatusCode::kInvalidArgument);
  client.ca_pem = "not pem";
  EXPECT_EQ(MakeChannelCredentials(client, nullptr).status().code(),
            absl::StatusCode::kInvalidArgument);
  client.ca_pem = "-----BEGIN CERTIFICATE-----";
  EXPECT_EQ(MakeChannelCredentials(client, nullptr).status().code(),
            absl::StatusCode::kInvalidArgument);  // a certificate without its key

  EXPECT_FALSE(CheckServerTransport(ServerTlsOptions(), /*plaintext=*/false).ok());
  EXPECT_TRUE(CheckServerTransport(ServerTlsOptions(), /*plaintext=*/true).ok());
  ServerTlsOptions tls{"c", "k", ""};
  EXPECT_TRUE(CheckServerTransport(tls, /*plaintext=*/false).ok());
  EXPECT_FALSE(CheckServerTransport(tls, /*plaintext=*/true).ok());
  EXPECT_FALSE(CheckClientTransport(ClientTlsOptions(), false).ok());
  EXPECT_TRUE(CheckClientTransport(ClientTlsOptions(), true).ok());
}

}  // namespace
}  // namespace adamasync
