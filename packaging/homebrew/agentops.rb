# Homebrew formula for agentops, built from source (cgo for SQLite).
# Install from a checkout: brew install --build-from-source packaging/homebrew/agentops.rb
class Agentops < Formula
  desc "Self-hosted control plane for background AI coding agents"
  homepage "https://github.com/agentops/agentops"
  url "https://github.com/agentops/agentops/archive/refs/tags/v0.1.0.tar.gz"
  # Replaced by the release's checksum when a version is tagged.
  sha256 "0000000000000000000000000000000000000000000000000000000000000000"
  head "https://github.com/agentops/agentops.git", branch: "main"

  depends_on "go" => :build
  depends_on "git"

  def install
    # Every build uses the sqlite_fts5 tag: without it memory search is missing
    # and the server refuses to start.
    ldflags = "-s -w -X main.version=#{version}"
    system "go", "build", "-tags", "sqlite_fts5", "-trimpath", *std_go_args(ldflags: ldflags)
    (var/"agentops").mkpath
  end

  service do
    run [opt_bin/"agentops", "serve"]
    environment_variables AGENTOPS_DATA_DIR: var/"agentops"
    keep_alive true
    working_dir var/"agentops"
    log_path var/"log/agentops.log"
    error_log_path var/"log/agentops.log"
  end

  test do
    assert_match version.to_s, shell_output("#{bin}/agentops version")
    port = free_port
    pid = spawn bin/"agentops", "serve", "--listen", "127.0.0.1:#{port}", "--data-dir", testpath/"data"
    begin
      sleep 3
      assert_match "ok", shell_output("curl -fsS http://127.0.0.1:#{port}/health")
    ensure
      Process.kill("TERM", pid)
      Process.wait(pid)
    end
  end
end
