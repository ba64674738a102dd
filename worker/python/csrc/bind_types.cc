// TableSpec, AdamConfig, Initializer, ConsistencyConfig, ClientOptions and
// Versions as Python classes, with keyword constructors whose defaults are
// the C++ defaults.
#include "bind_types.h"

#include <nanobind/operators.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "adamasync/client.h"
#include "adamasync/security.h"
#include "adamasync/table_spec.h"

namespace nb = nanobind;
using namespace nb::literals;

namespace adamasync::python {
namespace {

std::string BoolRepr(bool value) { return value ? "True" : "False"; }

std::string StrRepr(const std::string& value) {
  return nb::repr(nb::str(value.c_str(), value.size())).c_str();
}

double ToSeconds(absl::Duration d) {
  return d == absl::InfiniteDuration() ? INFINITY : absl::ToDoubleSeconds(d);
}

absl::Duration FromSeconds(double seconds, const char* what) {
  if (std::isnan(seconds)) throw nb::value_error(absl::StrCat(what, " is NaN").c_str());
  if (std::isinf(seconds) && seconds > 0) return absl::InfiniteDuration();
  return absl::Seconds(seconds);
}

// A read-write float-seconds property for an absl::Duration field.
void AddDurationProperty(nb::class_<ClientOptions>& cls, const char* name,
                         absl::Duration ClientOptions::*field, const char* doc) {
  cls.def_prop_rw(
      name, [field](const ClientOptions& o) { return ToSeconds(o.*field); },
      [field, name](ClientOptions& o, double seconds) { o.*field = FromSeconds(seconds, name); },
      doc);
}

const char* AlgorithmName(Algorithm a) { return a == Algorithm::kAdamW ? "ADAMW" : "ADAM"; }

const char* PolicyName(StalenessPolicy p) {
  switch (p) {
    case StalenessPolicy::kApply:
      return "APPLY";
    case StalenessPolicy::kReject:
      return "REJECT";
    case StalenessPolicy::kScale:
      return "SCALE";
  }
  return "?";
}

std::string Repr(const AdamConfig& c) {
  return absl::StrCat("AdamConfig(algorithm=Algorithm.", AlgorithmName(c.algorithm),
                      ", lr=", FloatRepr(c.lr), ", beta1=", FloatRepr(c.beta1),
                      ", beta2=", FloatRepr(c.beta2), ", eps=", FloatRepr(c.eps),
                      ", weight_decay=", FloatRepr(c.weight_decay),
                      ", amsgrad=", BoolRepr(c.amsgrad), ", maximize=", BoolRepr(c.maximize), ")");
}

std::string Repr(const Initializer& i) {
  switch (i.kind) {
    case Initializer::Kind::kZeros:
      return "Initializer.zeros()";
    case Initializer::Kind::kConstant:
      return absl::StrCat("Initializer.constant(", FloatRepr(i.a), ")");
    case Initializer::Kind::kUniform:
      return absl::StrCat("Initializer.uniform(", FloatRepr(i.a), ", ", FloatRepr(i.b),
                          ", seed=", i.seed, ")");
    case Initializer::Kind::kNormal:
      return absl::StrCat("Initializer.normal(", FloatRepr(i.a), ", ", FloatRepr(i.b),
                          ", seed=", i.seed, ")");
  }
  return "Initializer(?)";
}

std::string Repr(const ConsistencyConfig& c) {
  return absl::StrCat("ConsistencyConfig(staleness_policy=StalenessPolicy.",
                      PolicyName(c.staleness_policy), ", max_staleness=", c.max_staleness,
                      ", ssp_bound=", c.ssp_bound, ", sync_workers=", c.sync_workers, ")");
}

}  // namespace

std::string FloatRepr(double value) { return nb::repr(nb::float_(value)).c_str(); }

void BindTableSpec(nb::module_& m) {
  nb::enum_<Algorithm>(m, "Algorithm", "Adam (L2 weight decay) or AdamW (decoupled).")
      .value("ADAM", Algorithm::kAdam, "torch.optim.Adam: weight decay is added to the gradient")
      .value("ADAMW", Algorithm::kAdamW, "torch.optim.AdamW: weight decay shrinks the parameter");

  const AdamConfig adam_defaults;
  nb::class_<AdamConfig>(m, "AdamConfig",
                         "Adam hyper-parameters, with PyTorch's defaults (validated by the "
                         "server side rules when the table is created).")
      .def(
          "__init__",
          [](AdamConfig* self, Algorithm algorithm, double lr, double beta1, double beta2,
             double eps, double weight_decay, bool amsgrad, bool maximize) {
            new (self)
                AdamConfig{algorithm, lr, beta1, beta2, eps, weight_decay, amsgrad, maximize};
          },
          nb::kw_only(), "algorithm"_a = adam_defaults.algorithm, "lr"_a = adam_defaults.lr,
          "beta1"_a = adam_defaults.beta1, "beta2"_a = adam_defaults.beta2,
          "eps"_a = adam_defaults.eps, "weight_decay"_a = adam_defaults.weight_decay,
          "amsgrad"_a = adam_defaults.amsgrad, "maximize"_a = adam_defaults.maximize)
      .def_rw("algorithm", &AdamConfig::algorithm)
      .def_rw("lr", &AdamConfig::lr)
      .def_rw("beta1", &AdamConfig::beta1)
      .def_rw("beta2", &AdamConfig::beta2)
      .def_rw("eps", &AdamConfig::eps)
      .def_rw("weight_decay", &AdamConfig::weight_decay)
      .def_rw("amsgrad", &AdamConfig::amsgrad)
      .def_rw("maximize", &AdamConfig::maximize)
      .def(nb::self == nb::self)
      .def(nb::self != nb::self)
      .def("__repr__", [](const AdamConfig& c) { return Repr(c); });

  nb::class_<Initializer> initializer(
      m, "Initializer",
      "Initial values; element i's value depends only on (seed, i), so a table is the same "
      "for any number of shards. Make one with zeros(), constant(), uniform() or normal().");
  nb::enum_<Initializer::Kind>(initializer, "Kind")
      .value("ZEROS", Initializer::Kind::kZeros)
      .value("CONSTANT", Initializer::Kind::kConstant)
      .value("UNIFORM", Initializer::Kind::kUniform)
      .value("NORMAL", Initializer::Kind::kNormal);
  initializer.def(nb::init<>())
      .def_static("zeros", &Initializer::Zeros)
      .def_static("constant", &Initializer::Constant, "value"_a)
      .def_static("uniform", &Initializer::Uniform, "low"_a, "high"_a, "seed"_a = 0)
      .def_static("normal", &Initializer::Normal, "mean"_a, "stddev"_a, "seed"_a = 0)
      .def_rw("kind", &Initializer::kind)
      .def_rw("a", &Initializer::a, "constant value; uniform low; normal mean")
      .def_rw("b", &Initializer::b, "uniform high; normal stddev")
      .def_rw("seed", &Initializer::seed)
      .def(nb::self == nb::self)
      .def(nb::self != nb::self)
      .def("__repr__", [](const Initializer& i) { return Repr(i); });

  nb::enum_<StalenessPolicy>(m, "StalenessPolicy",
                             "What a shard does with a push staler than max_staleness.")
      .value("APPLY", StalenessPolicy::kApply, "no bound: apply every push")
      .value("REJECT", StalenessPolicy::kReject, "answer ABORTED, apply nothing")
      .value("SCALE", StalenessPolicy::kScale, "apply with lr scaled by 1 / staleness");

  const ConsistencyConfig consistency_defaults;
  nb::class_<ConsistencyConfig>(m, "ConsistencyConfig",
                                "How much asynchrony a table tolerates (docs/consistency.md).")
      .def(
          "__init__",
          [](ConsistencyConfig* self, StalenessPolicy policy, int64_t max_staleness,
             int64_t ssp_bound, int64_t sync_workers) {
            new (self) ConsistencyConfig{policy, max_staleness, ssp_bound, sync_workers};
          },
          nb::kw_only(), "staleness_policy"_a = consistency_defaults.staleness_policy,
          "max_staleness"_a = consistency_defaults.max_staleness,
          "ssp_bound"_a = consistency_defaults.ssp_bound,
          "sync_workers"_a = consistency_defaults.sync_workers)
      .def_rw("staleness_policy", &ConsistencyConfig::staleness_policy)
      .def_rw("max_staleness", &ConsistencyConfig::max_staleness)
      .def_rw("ssp_bound", &ConsistencyConfig::ssp_bound)
      .def_rw("sync_workers", &ConsistencyConfig::sync_workers)
      .def(nb::self == nb::self)
      .def(nb::self != nb::self)
      .def("__repr__", [](const ConsistencyConfig& c) { return Repr(c); });

  nb::class_<TableSpec>(m, "TableSpec", "A table: name, size, optimizer, initial values.")
      .def(
          "__init__",
          [](TableSpec* self, std::string name, uint64_t num_elements, const AdamConfig& adam,
             const Initializer& init, const ConsistencyConfig& consistency) {
            new (self) TableSpec{std::move(name), num_elements, adam, init, consistency};
          },
          "name"_a, "num_elements"_a, nb::kw_only(), "adam"_a = AdamConfig(),
          "init"_a = Initializer(), "consistency"_a = ConsistencyConfig())
      .def_rw("name", &TableSpec::name)
      .def_rw("num_elements", &TableSpec::num_elements)
      .def_rw("adam", &TableSpec::adam)
      .def_rw("init", &TableSpec::init)
      .def_rw("consistency", &TableSpec::consistency)
      .def(nb::self == nb::self)
      .def(nb::self != nb::self)
      .def("__repr__", [](const TableSpec& s) {
        return absl::StrCat("TableSpec(", StrRepr(s.name), ", ", s.num_elements,
                            ", adam=", Repr(s.adam), ", init=", Repr(s.init),
                            ", consistency=", Repr(s.consistency), ")");
      });
}

void BindClientOptions(nb::module_& m) {
  nb::class_<Versions>(m, "Versions",
                       "The versions a pull saw or a push produced: per shard, how many updates "
                       "its part of the table had received.")
      .def(
          "__init__",
          [](Versions* self, std::vector<uint64_t> per_shard, bool stale_dropped) {
            new (self) Versions{std::move(per_shard), stale_dropped};
          },
          "per_shard"_a = std::vector<uint64_t>(), "stale_dropped"_a = false)
      .def_rw("per_shard", &Versions::per_shard)
      .def_rw("stale_dropped", &Versions::stale_dropped,
              "push only: a shard refused the gradient as too stale and it was dropped")
      .def("__eq__",
           [](const Versions& a, const Versions& b) {
             return a.per_shard == b.per_shard && a.stale_dropped == b.stale_dropped;
           })
      .def("__repr__", [](const Versions& v) {
        return absl::StrCat("Versions(per_shard=[", absl::StrJoin(v.per_shard, ", "), "]",
                            v.stale_dropped ? ", stale_dropped=True" : "", ")");
      });

  const ClientTlsOptions no_tls;
  nb::class_<ClientTlsOptions>(m, "TlsOptions",
                               "TLS to the servers (adamasync/security.h). Setting a CA (ca_file "
                               "or ca_pem) enables TLS; cert/key for mutual TLS. Each from a file "
                               "or PEM text, not both.")
      .def(
          "__init__",
          [](ClientTlsOptions* self, std::string ca_file, std::string ca_pem, std::string cert_file,
             std::string cert_pem, std::string key_file, std::string key_pem,
             std::string server_name) {
            new (self) ClientTlsOptions{
                std::move(ca_file),  std::move(ca_pem),  std::move(cert_file),  std::move(cert_pem),
                std::move(key_file), std::move(key_pem), std::move(server_name)};
          },
          nb::kw_only(), "ca_file"_a = no_tls.ca_file, "ca_pem"_a = no_tls.ca_pem,
          "cert_file"_a = no_tls.cert_file, "cert_pem"_a = no_tls.cert_pem,
          "key_file"_a = no_tls.key_file, "key_pem"_a = no_tls.key_pem,
          "server_name"_a = no_tls.server_name)
      .def_rw("ca_file", &ClientTlsOptions::ca_file)
      .def_rw("ca_pem", &ClientTlsOptions::ca_pem)
      .def_rw("cert_file", &ClientTlsOptions::cert_file)
      .def_rw("cert_pem", &ClientTlsOptions::cert_pem)
      .def_rw("key_file", &ClientTlsOptions::key_file)
      .def_rw("key_pem", &ClientTlsOptions::key_pem)
      .def_rw("server_name", &ClientTlsOptions::server_name,
              "name the servers' certificates must carry, when not the address's host")
      .def_prop_ro("enabled", &ClientTlsOptions::enabled)
      .def("__repr__", [](const ClientTlsOptions& t) {
        // File names only: PEM text may hold a private key.
        return absl::StrCat("TlsOptions(enabled=", BoolRepr(t.enabled()),
                            ", ca_file=", StrRepr(t.ca_file), ", cert_file=", StrRepr(t.cert_file),
                            ", key_file=", StrRepr(t.key_file),
                            ", server_name=", StrRepr(t.server_name), ")");
      });

  nb::class_<ClientCredentials>(m, "Credentials",
                                "A bearer token sent with every call: the token itself or a "
                                "file holding it (re-read when it changes).")
      .def(
          "__init__",
          [](ClientCredentials* self, std::string token, std::string token_file) {
            new (self) ClientCredentials{std::move(token), std::move(token_file)};
          },
          nb::kw_only(), "token"_a = std::string(), "token_file"_a = std::string())
      .def_rw("token", &ClientCredentials::token)
      .def_rw("token_file", &ClientCredentials::token_file)
      .def_prop_ro("enabled", &ClientCredentials::enabled)
      .def("__repr__", [](const ClientCredentials& c) {
        return absl::StrCat("Credentials(token=", c.token.empty() ? "''" : "'***'",
                            ", token_file=", StrRepr(c.token_file), ")");
      });

  const ClientOptions d;
  nb::class_<ClientOptions> options(m, "ClientOptions",
                                    "How a Client reaches and talks to the shards. Durations are "
                                    "seconds (float).");
  options
      .def(
          "__init__",
          [](ClientOptions* self, std::vector<std::string> servers, double deadline,
             double initial_backoff, double max_backoff, uint64_t chunk_elements,
             int max_chunks_in_flight, int max_message_bytes, double attempt_timeout,
             uint64_t worker_id, double lease, bool drop_stale_pushes, const ClientTlsOptions& tls,
             const ClientCredentials& credentials) {
            ClientOptions o;
            o.servers = std::move(servers);
            o.deadline = FromSeconds(deadline, "deadline");
            o.initial_backoff = FromSeconds(initial_backoff, "initial_backoff");
            o.max_backoff = FromSeconds(max_backoff, "max_backoff");
            o.chunk_elements = chunk_elements;
            o.max_chunks_in_flight = max_chunks_in_flight;
            o.max_message_bytes = max_message_bytes;
            o.attempt_timeout = FromSeconds(attempt_timeout, "attempt_timeout");
            o.worker_id = worker_id;
            o.lease = FromSeconds(lease, "lease");
            o.drop_stale_pushes = drop_stale_pushes;
            o.tls = tls;
            o.credentials = credentials;
            new (self) ClientOptions(std::move(o));
          },
          "servers"_a = std::vector<std::string>(), nb::kw_only(),
          "deadline"_a = ToSeconds(d.deadline), "initial_backoff"_a = ToSeconds(d.initial_backoff),
          "max_backoff"_a = ToSeconds(d.max_backoff), "chunk_elements"_a = d.chunk_elements,
          "max_chunks_in_flight"_a = d.max_chunks_in_flight,
          "max_message_bytes"_a = d.max_message_bytes,
          "attempt_timeout"_a = ToSeconds(d.attempt_timeout), "worker_id"_a = d.worker_id,
          "lease"_a = ToSeconds(d.lease), "drop_stale_pushes"_a = d.drop_stale_pushes,
          "tls"_a = ClientTlsOptions(), "credentials"_a = ClientCredentials())
      .def_rw("servers", &ClientOptions::servers, "'host:port' of every shard, in shard order")
      .def_rw("chunk_elements", &ClientOptions::chunk_elements)
      .def_rw("max_chunks_in_flight", &ClientOptions::max_chunks_in_flight)
      .def_rw("max_message_bytes", &ClientOptions::max_message_bytes)
      .def_rw("worker_id", &ClientOptions::worker_id)
      .def_rw("drop_stale_pushes", &ClientOptions::drop_stale_pushes)
      .def_rw("tls", &ClientOptions::tls, "TLS to the servers; default plaintext")
      .def_rw("credentials", &ClientOptions::credentials, "bearer token; default none")
      .def("__repr__", [](const ClientOptions& o) {
        std::vector<std::string> servers;
        for (const std::string& s : o.servers) servers.push_back(StrRepr(s));
        return absl::StrCat("ClientOptions(servers=[", absl::StrJoin(servers, ", "),
                            "], deadline=", FloatRepr(ToSeconds(o.deadline)),
                            ", chunk_elements=", o.chunk_elements,
                            ", max_chunks_in_flight=", o.max_chunks_in_flight,
                            ", worker_id=", o.worker_id, ", tls=", BoolRepr(o.tls.enabled()),
                            ", credentials=", BoolRepr(o.credentials.enabled()), ", ...)");
      });
  AddDurationProperty(options, "deadline", &ClientOptions::deadline,
                      "time allowed for one whole operation, retries included");
  AddDurationProperty(options, "initial_backoff", &ClientOptions::initial_backoff,
                      "first wait before retrying UNAVAILABLE");
  AddDurationProperty(options, "max_backoff", &ClientOptions::max_backoff,
                      "longest wait between retries");
  AddDurationProperty(options, "attempt_timeout", &ClientOptions::attempt_timeout,
                      "time allowed for one attempt of one chunk RPC (math.inf: no limit)");
  AddDurationProperty(options, "lease", &ClientOptions::lease,
                      "how long a shard counts a silent worker as live");
}

}  // namespace adamasync::python
