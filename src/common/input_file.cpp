// Reading input files: regular files only, opened non-blocking, bounded (include/ramq/input_file.h).
#include "ramq/input_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "ramq/error.h"

namespace ramq {

namespace {

std::string describe_mode(mode_t m) {
  if (S_ISREG(m)) return "a regular file";
  if (S_ISDIR(m)) return "a directory";
  if (S_ISFIFO(m)) return "a FIFO";
  if (S_ISSOCK(m)) return "a socket";
  if (S_ISCHR(m)) return "a character device";
  if (S_ISBLK(m)) return "a block device";
  if (S_ISLNK(m)) return "a symbolic link";
  return "not a regular file";
}

}  // namespace

std::string describe_file_type(const std::filesystem::path& path, bool follow_links) {
  struct stat st {};
  const int rc = follow_links ? ::stat(path.c_str(), &st) : ::lstat(path.c_str(), &st);
  return rc == 0 ? describe_mode(st.st_mode) : "missing";
}

int open_regular_file(const std::filesystem::path& path, std::uint64_t& size) {
  const std::string name = path.string();
  // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer, forever.
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    const int err = errno;
    if (err == ENOENT) throw Error(name, "", "does not exist");
    throw Error(name, "", std::string("cannot open: ") + std::strerror(err));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    throw Error(name, "", std::string("cannot stat: ") + std::strerror(err));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    throw Error(name, "", "is " + describe_mode(st.st_mode) + ", not a regular file");
  }
  size = static_cast<std::uint64_t>(st.st_size);
  return fd;
}

std::string read_regular_file(const std::filesystem::path& path, std::uint64_t limit) {
  const std::string name = path.string();
  std::uint64_t size = 0;
  const int fd = open_regular_file(path, size);
  if (size > limit) {
    ::close(fd);
    throw Error(name, "", "is " + std::to_string(size) + " bytes, more than the limit of " + std::to_string(limit) +
                              " bytes for this kind of file");
  }
  std::string data(static_cast<std::size_t>(size), '\0');
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::read(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = n < 0 ? errno : 0;
      ::close(fd);
      throw Error(name, "", n < 0 ? std::string("read error: ") + std::strerror(err)
                                  : "read error: the file became shorter while it was read");
    }
    done += static_cast<std::size_t>(n);
  }
  ::close(fd);
  return data;
}

}  // namespace ramq
