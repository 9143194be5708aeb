// evaluate stage: chat templates rendered by Python's Jinja2 in a child process, in the
// environment of Hugging Face transformers' apply_chat_template (include/ramq/generate.h).
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <string>

#include <nlohmann/json.hpp>

#include "ramq/error.h"
#include "ramq/generate.h"

extern char** environ;

namespace ramq {

namespace {

constexpr const char* kInstallHint = "install Python's Jinja2 to render chat templates: apt install python3-jinja2";

// Reads {"template", "variables"} as JSON on stdin and writes the rendered text, UTF-8, on
// stdout. Exit 3: no Jinja2; exit 4: the template failed (one line on stderr), which includes a
// template that renders for more than 60 s or to more than 64 MiB (a hostile template must not
// hang ramq or fill its memory; Jinja2's sandbox bounds range() but not nested loops).
constexpr const char* kRenderer = R"PY(
import datetime, json, signal, sys
try:
    import jinja2, jinja2.ext, jinja2.sandbox
except ImportError:
    sys.exit(3)

def raise_exception(message):
    raise jinja2.exceptions.TemplateError(message)

def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

def strftime_now(format):
    return datetime.datetime.now().strftime(format)

def out_of_time(signum, frame):
    raise TimeoutError("rendering took longer than 60 s")

signal.signal(signal.SIGALRM, out_of_time)
signal.alarm(60)
request = json.loads(sys.stdin.buffer.read().decode("utf-8"))
env = jinja2.sandbox.ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                                   extensions=[jinja2.ext.loopcontrols])
env.filters["tojson"] = tojson
env.globals["raise_exception"] = raise_exception
env.globals["strftime_now"] = strftime_now
try:
    text = env.from_string(request["template"]).render(**request["variables"])
    if len(text) > (64 << 20):
        raise ValueError("the rendered prompt is larger than 64 MiB")
except Exception as e:
    sys.stderr.write(" ".join((type(e).__name__ + ": " + str(e)).split()))
    sys.exit(4)
sys.stdout.buffer.write(text.encode("utf-8"))
)PY";

struct Pipe {
  int fd[2] = {-1, -1};
  Pipe() {
    if (pipe2(fd, O_CLOEXEC) != 0) throw Error("", "", std::string("cannot create a pipe: ") + std::strerror(errno));
  }
  ~Pipe() { close_all(); }
  void close_end(int i) {
    if (fd[i] >= 0) ::close(fd[i]);
    fd[i] = -1;
  }
  void close_all() {
    close_end(0);
    close_end(1);
  }
};

void write_all(int fd, const std::string& data) {
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // the child stopped reading: its status tells why
    done += static_cast<std::size_t>(n);
  }
}

std::string read_all(int fd) {
  std::string out;
  char buf[1 << 14];
  while (true) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return out;
    out.append(buf, static_cast<std::size_t>(n));
  }
}

struct ChildOutput {
  int status = -1;  // exit status, -1 when it did not exit normally
  std::string out, err;
};

// python3 -I -c kRenderer with `input` on stdin; posix_spawnp, no shell.
ChildOutput run_renderer(const std::string& input, const std::string& template_file) {
  Pipe in, out, err;
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in.fd[0], 0);
  posix_spawn_file_actions_adddup2(&actions, out.fd[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err.fd[1], 2);
  const char* argv[] = {"python3", "-I", "-c", kRenderer, nullptr};
  pid_t pid = 0;
  const int rc = posix_spawnp(&pid, "python3", &actions, nullptr, const_cast<char* const*>(argv), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) throw Error(template_file, "", std::string("cannot run python3 (") + std::strerror(rc) + "): " + kInstallHint);
  in.close_end(0);
  out.close_end(1);
  err.close_end(1);
  // A child that exits early must not kill ramq with SIGPIPE.
  struct sigaction ignore {}, previous {};
  ignore.sa_handler = SIG_IGN;
  sigaction(SIGPIPE, &ignore, &previous);
  write_all(in.fd[1], input);
  in.close_end(1);
  sigaction(SIGPIPE, &previous, nullptr);
  ChildOutput result;
  result.out = read_all(out.fd[0]);
  result.err = read_all(err.fd[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  result.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

}  // namespace

std::string render_chat_prompt(const std::string& chat_template, const std::string& template_file,
                               const std::string& user_message, const std::string& bos_token,
                               const std::string& eos_token) {
  std::string input;
  try {
    input = nlohmann::json{{"template", chat_template},
                           {"variables",
                            {{"messages", nlohmann::json::array({{{"role", "user"}, {"content", user_message}}})},
                             {"add_generation_prompt", true},
                             {"bos_token", bos_token},
                             {"eos_token", eos_token}}}}
                .dump();
  } catch (const nlohmann::json::type_error&) {
    throw Error(template_file, "", "the prompt or the template is not valid UTF-8");
  }
  const ChildOutput r = run_renderer(input, template_file);
  if (r.status == 0) return r.out;
  if (r.status == 127) throw Error(template_file, "", std::string("python3 is not installed: ") + kInstallHint);
  if (r.status == 3) throw Error(template_file, "", std::string("Python has no Jinja2: ") + kInstallHint);
  if (r.status == 4) throw Error(template_file, "", "the chat template failed to render: " + r.err);
  std::string why = r.err.substr(0, 200);
  for (char& c : why)
    if (c == '\n' || c == '\r') c = ' ';
  throw Error(template_file, "", "python3 failed to render the chat template (status " + std::to_string(r.status) +
                                     "): " + why);
}

}  // namespace ramq
