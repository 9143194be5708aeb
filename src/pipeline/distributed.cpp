// A run across several processes: the tensor split and the messages between rank 0 and the
// others (pipeline/distributed.h). Analyses and plans travel as CBOR of their JSON form (doubles
// exact), tensors as their encoded bytes.
#include "pipeline/distributed.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <numeric>
#include <stdexcept>

#include "ramq/error.h"

namespace ramq {

std::vector<int> assign_tensors_to_ranks(const ModelReader& model, int ranks) {
  if (ranks < 1) throw std::invalid_argument("assign_tensors_to_ranks: ranks must be >= 1");
  const auto& tensors = model.tensors();
  std::vector<std::size_t> order(tensors.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return tensors[a].nbytes > tensors[b].nbytes; });
  std::vector<std::uint64_t> load(static_cast<std::size_t>(ranks), 0);
  std::vector<int> owner(tensors.size(), 0);
  for (const std::size_t i : order) {
    const auto least = std::min_element(load.begin(), load.end());  // first of the least loaded
    owner[i] = static_cast<int>(least - load.begin());
    *least += tensors[i].nbytes;
  }
  return owner;
}

namespace pipeline {

namespace {

enum class Kind : std::uint8_t { Hello = 1, Analysis, Tensor, Finished, Error, Plan, Stop };

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::Hello: return "HELLO";
    case Kind::Analysis: return "ANALYSIS";
    case Kind::Tensor: return "TENSOR";
    case Kind::Finished: return "FINISHED";
    case Kind::Error: return "ERROR";
    case Kind::Plan: return "PLAN";
    case Kind::Stop: return "STOP";
  }
  return "?";
}

class Out {
 public:
  explicit Out(Kind k) { bytes_.push_back(static_cast<std::byte>(k)); }
  Out& u64(std::uint64_t v) {
    for (int i = 0; i < 8; ++i) bytes_.push_back(static_cast<std::byte>((v >> (8 * i)) & 0xffu));
    return *this;
  }
  Out& str(const std::string& s) {
    u64(s.size());
    const auto* p = reinterpret_cast<const std::byte*>(s.data());
    bytes_.insert(bytes_.end(), p, p + s.size());
    return *this;
  }
  Out& raw(const std::vector<std::uint8_t>& v) {
    const auto* p = reinterpret_cast<const std::byte*>(v.data());
    bytes_.insert(bytes_.end(), p, p + v.size());
    return *this;
  }
  const std::vector<std::byte>& bytes() const { return bytes_; }

 private:
  std::vector<std::byte> bytes_;
};

class In {
 public:
  explicit In(const std::vector<std::byte>& m) : m_(m) {
    if (m_.empty()) throw std::runtime_error("empty message between ranks");
    pos_ = 1;
  }
  Kind kind() const { return static_cast<Kind>(m_[0]); }
  std::uint64_t u64() {
    need(8);
    std::uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v |= static_cast<std::uint64_t>(m_[pos_ + static_cast<std::size_t>(i)]) << (8 * i);
    pos_ += 8;
    return v;
  }
  std::string str() {
    const std::uint64_t n = u64();
    need(n);
    std::string s(reinterpret_cast<const char*>(m_.data() + pos_), static_cast<std::size_t>(n));
    pos_ += static_cast<std::size_t>(n);
    return s;
  }
  std::vector<std::uint8_t> rest() {
    std::vector<std::uint8_t> v(m_.size() - pos_);
    if (!v.empty()) std::memcpy(v.data(), m_.data() + pos_, v.size());
    pos_ = m_.size();
    return v;
  }

 private:
  void need(std::uint64_t n) const {
    if (n > m_.size() - pos_) throw std::runtime_error("truncated message between ranks");
  }
  const std::vector<std::byte>& m_;
  std::size_t pos_ = 0;
};

std::uint64_t fnv(std::uint64_t h, const std::string& s) {
  for (const char c : s) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ULL;
  }
  return h ^ 0xff;  // separator
}

// What every rank must read alike: tensor names, dtypes, shapes, sizes, and config.json.
std::uint64_t model_fingerprint(const ModelReader& model) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (const auto& t : model.tensors()) {
    std::string s = t.name + ":" + std::string(dtype_name(t.dtype)) + ":" + std::to_string(t.nbytes);
    for (const auto d : t.shape) s += "," + std::to_string(d);
    h = fnv(h, s);
  }
  return fnv(h, model.config().raw.dump());
}

std::map<std::string, std::size_t> index_of(const ModelReader& model) {
  std::map<std::string, std::size_t> m;
  for (std::size_t i = 0; i < model.tensors().size(); ++i) m[model.tensors()[i].name] = i;
  return m;
}

std::vector<std::size_t> tensors_of(const std::vector<int>& owners, int rank) {
  std::vector<std::size_t> v;
  for (std::size_t i = 0; i < owners.size(); ++i)
    if (owners[i] == rank) v.push_back(i);
  return v;
}

std::string where(int rank, int size, const std::string& host) {
  return "rank " + std::to_string(rank) + " of " + std::to_string(size) + (host.empty() ? "" : " on " + host);
}

}  // namespace

int exit_status_of(std::exception_ptr e) {
  try {
    std::rethrow_exception(e);
  } catch (const ClusterStop& s) {
    return s.status();
  } catch (const Error&) {
    return 1;
  } catch (...) {
    return 3;
  }
}

// ---- rank 0 --------------------------------------------------------------------------------

Root::Root(Cluster& cluster, const ModelReader& model)
    : cluster_(cluster),
      model_(model),
      owners_(assign_tensors_to_ranks(model, cluster.size())),
      index_(index_of(model)),
      hosts_(static_cast<std::size_t>(cluster.size())) {
  hosts_[0] = cluster.host();
  cluster_.peers_busy = true;
}

bool Root::remote(const std::string& tensor) const { return owner(tensor) != 0; }

int Root::owner(const std::string& tensor) const {
  const auto it = index_.find(tensor);
  if (it == index_.end()) throw std::logic_error("no tensor '" + tensor + "' to assign to a rank");
  return owners_[it->second];
}

std::vector<std::size_t> Root::own_tensors() const { return tensors_of(owners_, 0); }

std::vector<std::byte> Root::receive(int from) { return cluster_.receive(from); }

void Root::rethrow_peer_error(int from, const std::vector<std::byte>& message) const {
  In in(message);
  const std::string at = where(from, cluster_.size(), hosts_[static_cast<std::size_t>(from)]);
  if (in.kind() != Kind::Error)
    throw std::runtime_error("unexpected " + std::string(kind_name(in.kind())) + " message from " + at);
  const std::uint64_t status = in.u64();
  std::string file = in.str(), tensor = in.str(), problem = in.str();
  if (status == 1) throw Error(std::move(file), std::move(tensor), problem + " (" + at + ")");
  throw std::runtime_error(format_error_line(file, tensor, problem) + " (" + at + ")");
}

void Root::hello() {
  const std::uint64_t mine = model_fingerprint(model_);
  for (int r = 1; r < cluster_.size(); ++r) {
    const auto m = receive(r);
    In in(m);
    if (in.kind() != Kind::Hello) rethrow_peer_error(r, m);
    const std::uint64_t theirs = in.u64();
    hosts_[static_cast<std::size_t>(r)] = in.str();
    if (theirs != mine)
      throw Error(model_.dir().string(), "",
                  where(r, cluster_.size(), hosts_[static_cast<std::size_t>(r)]) +
                      " reads different tensors or a different config.json in this directory than rank 0: every "
                      "rank needs the same model directory");
  }
}

void Root::gather(ModelAnalysis& analysis) {
  // Every rank's message is read before an error is acted on: the others are then all waiting.
  std::exception_ptr first_error;
  for (int r = 1; r < cluster_.size(); ++r) {
    const auto m = receive(r);
    try {
      In in(m);
      if (in.kind() != Kind::Analysis) rethrow_peer_error(r, m);
      const std::string from = "the analysis from " + where(r, cluster_.size(), hosts_[static_cast<std::size_t>(r)]);
      ModelAnalysis part = analysis_from_json(nlohmann::json::from_cbor(in.rest()), from);
      for (auto& t : part.tensors) {
        const auto it = index_.find(t.name);
        if (it == index_.end() || owners_[it->second] != r || !analysis.tensors.at(it->second).name.empty())
          throw std::runtime_error(from + " has an unexpected tensor '" + t.name + "'");
        analysis.tensors[it->second] = std::move(t);
      }
    } catch (...) {
      if (!first_error) first_error = std::current_exception();
    }
  }
  cluster_.peers_busy = false;
  if (!first_error)
    for (std::size_t i = 0; i < analysis.tensors.size(); ++i)
      if (analysis.tensors[i].name != model_.tensors()[i].name) {
        first_error = std::make_exception_ptr(std::runtime_error(
            "no analysis of tensor '" + model_.tensors()[i].name + "' from rank " + std::to_string(owners_[i])));
        break;
      }
  if (first_error) {
    stop(exit_status_of(first_error));
    std::rethrow_exception(first_error);
  }
}

void Root::send_plan(const Plan& plan) {
  Out m(Kind::Plan);
  m.raw(nlohmann::json::to_cbor(plan_to_json(plan)));
  cluster_.peers_busy = true;
  for (int r = 1; r < cluster_.size(); ++r) cluster_.send(r, m.bytes());
}

void Root::stop(int status) {
  Out m(Kind::Stop);
  m.u64(static_cast<std::uint64_t>(status));
  for (int r = 1; r < cluster_.size(); ++r) cluster_.send(r, m.bytes());
  cluster_.peers_busy = false;
}

std::vector<std::vector<std::byte>> Root::receive_tensor(const std::string& tensor, std::size_t parts) {
  const int from = owner(tensor);
  const auto m = receive(from);
  In in(m);
  if (in.kind() != Kind::Tensor) rethrow_peer_error(from, m);
  const std::string name = in.str();
  const std::uint64_t n = in.u64();
  if (name != tensor || n != parts)
    throw std::logic_error("rank " + std::to_string(from) + " sent tensor '" + name + "' (" + std::to_string(n) +
                           " parts) where '" + tensor + "' was expected");
  std::vector<std::vector<std::byte>> out;
  out.reserve(parts);
  for (std::size_t k = 0; k < parts; ++k) out.push_back(receive(from));
  return out;
}

void Root::finished() {
  for (int r = 1; r < cluster_.size(); ++r) {
    const auto m = receive(r);
    if (In(m).kind() != Kind::Finished) rethrow_peer_error(r, m);
  }
  cluster_.peers_busy = false;
}

// ---- other ranks ---------------------------------------------------------------------------

Peer::Peer(Cluster& cluster, const ModelReader& model)
    : cluster_(cluster), model_(model), owners_(assign_tensors_to_ranks(model, cluster.size())), index_(index_of(model)) {}

bool Peer::mine(const std::string& tensor) const {
  const auto it = index_.find(tensor);
  return it != index_.end() && owners_[it->second] == cluster_.rank();
}

std::vector<std::size_t> Peer::own_tensors() const { return tensors_of(owners_, cluster_.rank()); }

void Peer::hello() {
  Out m(Kind::Hello);
  m.u64(model_fingerprint(model_)).str(cluster_.host());
  cluster_.send(0, m.bytes());
}

void Peer::send_analysis(const ModelAnalysis& analysis) {
  // Every model-level field as analysed here, and only the entries of this rank's tensors (the
  // others are left empty by analyze_model).
  ModelAnalysis part = analysis;
  std::erase_if(part.tensors, [](const TensorAnalysis& t) { return t.name.empty(); });
  Out m(Kind::Analysis);
  m.raw(nlohmann::json::to_cbor(analysis_to_json(part)));
  cluster_.send(0, m.bytes());
}

Plan Peer::wait_for_plan() {
  const auto m = cluster_.receive(0);
  In in(m);
  if (in.kind() == Kind::Stop) throw ClusterStop(static_cast<int>(in.u64()));
  if (in.kind() != Kind::Plan) throw std::runtime_error("unexpected " + std::string(kind_name(in.kind())) + " from rank 0");
  return plan_from_json(nlohmann::json::from_cbor(in.rest()), "the plan from rank 0");
}

void Peer::send_tensor(const std::string& tensor, const std::vector<std::vector<std::byte>>& parts) {
  Out m(Kind::Tensor);
  m.str(tensor).u64(parts.size());
  cluster_.send(0, m.bytes());
  for (const auto& p : parts) cluster_.send(0, p);
}

void Peer::finished() { cluster_.send(0, Out(Kind::Finished).bytes()); }

void Peer::fail(Cluster& cluster, std::exception_ptr error) {
  Out m(Kind::Error);
  try {
    std::rethrow_exception(error);
  } catch (const ClusterStop&) {
    throw;  // rank 0 ended the run: nothing to report
  } catch (const Error& e) {
    m.u64(1).str(e.file()).str(e.tensor()).str(e.problem());
  } catch (const std::exception& e) {
    m.u64(3).str("").str("").str(e.what());
  } catch (...) {
    m.u64(3).str("").str("").str("unknown error");
  }
  cluster.send(0, m.bytes());
  // Rank 0 reads this in place of the next message it expects from this rank, reports it, and
  // then sends STOP or ends the run.
  for (;;) {
    const auto reply = cluster.receive(0);
    In in(reply);
    if (in.kind() == Kind::Stop) {
      const int status = static_cast<int>(in.u64());
      throw ClusterStop(status == 0 ? 1 : status);  // this rank failed: never a success status
    }
  }
}

}  // namespace pipeline
}  // namespace ramq
