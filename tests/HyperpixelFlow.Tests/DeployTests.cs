using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using System.Text.RegularExpressions;
using YamlDotNet.RepresentationModel;

namespace HyperpixelFlow.Tests;

/// <summary>
/// The cluster scripts of deploy/: the Slurm array for real on a single-node Slurm started here (Debian's slurm-wlm
/// and munge), the Kubernetes manifests structurally (no cluster can run here).
/// </summary>
[Trait("Category", TestCategory.System)]
public class DeployTests
{
    private static string Deploy(params string[] parts) => Path.Combine([SharedData.RepoRoot, "deploy", .. parts]);

    private static YamlMappingNode Yaml(string path)
    {
        var stream = new YamlStream();
        using var reader = new StreamReader(path);
        stream.Load(reader);
        return (YamlMappingNode)Assert.Single(stream.Documents).RootNode;
    }

    private static YamlNode At(YamlNode node, params object[] path)
    {
        foreach (var step in path)
            node = step is int i ? ((YamlSequenceNode)node).Children[i] : ((YamlMappingNode)node).Children[new YamlScalarNode((string)step)];
        return node;
    }

    private static string Scalar(YamlNode node, params object[] path) => ((YamlScalarNode)At(node, path)).Value!;

    [Fact]
    public void Kubernetes_shards_and_merge_agree_on_the_shard_count_and_the_files()
    {
        var shards = Yaml(Deploy("kubernetes", "shards-job.yaml"));
        var merge = Yaml(Deploy("kubernetes", "merge-job.yaml"));
        Assert.Equal("Job", Scalar(shards, "kind"));
        Assert.Equal("Indexed", Scalar(shards, "spec", "completionMode"));
        int completions = int.Parse(Scalar(shards, "spec", "completions"));
        Assert.True(int.Parse(Scalar(shards, "spec", "parallelism")) <= completions);
        var container = At(shards, "spec", "template", "spec", "containers", 0);
        var mergeContainer = At(merge, "spec", "template", "spec", "containers", 0);
        string Env(YamlNode c, string name) => Scalar(((YamlSequenceNode)At(c, "env")).Children.Single(e => Scalar(e, "name") == name), "value");
        Assert.Equal(completions, int.Parse(Env(container, "HPF_SHARDS")));
        Assert.Equal(completions, int.Parse(Env(mergeContainer, "HPF_SHARDS")));
        // Pod i runs shard i+1 of HPF_SHARDS and writes the file the merge job reads.
        string run = Scalar(container, "args", 0), join = Scalar(mergeContainer, "args", 0);
        Assert.Contains("shard=$((JOB_COMPLETION_INDEX + 1))", run);
        Assert.Contains("--shard \"$shard/$HPF_SHARDS\"", run);
        Assert.Contains("/results/shard-$shard-of-$HPF_SHARDS.jsonl", run);
        Assert.Contains("for k in $(seq 1 \"$HPF_SHARDS\")", join);
        Assert.Contains("/results/shard-$k-of-$HPF_SHARDS.jsonl", join);
        Assert.Contains("hpf.dll merge", join);
        Assert.Equal(Scalar(shards, "spec", "template", "spec", "volumes", 1, "persistentVolumeClaim", "claimName"),
            Scalar(merge, "spec", "template", "spec", "volumes", 0, "persistentVolumeClaim", "claimName"));
        Assert.Equal(Scalar(container, "image"), Scalar(mergeContainer, "image"));
        Assert.Contains("ENTRYPOINT [\"dotnet\", \"/app/hpf.dll\"]", File.ReadAllText(Deploy("kubernetes", "Dockerfile")));
    }

    private static bool Installed(string program) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Concat(["/usr/sbin"]).Any(d => File.Exists(Path.Combine(d, program)));

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    [SkippableFact]
    public void Slurm_array_of_three_shards_and_its_merge_job_equal_a_single_process_run()
    {
        string willow = SharedData.PfWillow;
        var missing = new[] { "slurmctld", "slurmd", "sbatch", "squeue", "munged" }.Where(p => !Installed(p)).ToList();
        if (missing.Count > 0)
        {
            string message = $"Slurm is not installed ({string.Join(", ", missing)} missing; apt-get install -y slurm-wlm munge)";
            if (string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase))
                throw new InvalidOperationException(message + "; CI must provide it (.ci/run installs it)");
            Skip.If(true, message);
        }
        using var cluster = new SingleNodeSlurm();
        string output = Path.Combine(cluster.Dir, "out");
        string hpf = $"dotnet {Path.Combine(AppContext.BaseDirectory, "hpf.dll")}";
        string[] evaluate = ["evaluate", "--dataset", "pfwillow", "--datapath", willow, "--limit", "9"];
        var submit = cluster.Run("bash", [Deploy("slurm", "submit.sh"), "3", .. evaluate], new() { ["HPF"] = hpf, ["HPF_OUT_DIR"] = output });
        Assert.True(submit.ExitCode == 0, submit.Stdout + submit.Stderr);
        var ids = Regex.Matches(submit.Stdout, @"job (\d+)").Select(m => m.Groups[1].Value).ToList();
        Assert.Equal(2, ids.Count);
        cluster.WaitUntilGone(ids, TimeSpan.FromMinutes(8));

        string summaryPath = Path.Combine(output, "summary.json");
        Assert.True(File.Exists(summaryPath), "the merge job wrote no summary: " + cluster.Logs());
        for (int k = 1; k <= 3; k++) Assert.Equal(3 + 1, File.ReadAllLines(Path.Combine(output, $"shard-{k}-of-3.jsonl")).Length);
        Assert.Equal(9 + 1, File.ReadAllLines(Path.Combine(output, "merged.jsonl")).Length);

        string single = Path.Combine(cluster.Dir, "single.json");
        var run = CliTests.Hpf([.. evaluate, "--results", Path.Combine(cluster.Dir, "single.jsonl"), "--summary", single]);
        Assert.True(run.ExitCode == 0, run.Stderr);
        var merged = JsonDocument.Parse(File.ReadAllText(summaryPath)).RootElement;
        var expected = JsonDocument.Parse(File.ReadAllText(single)).RootElement;
        Assert.Equal(expected.GetProperty("pck").GetRawText(), merged.GetProperty("pck").GetRawText());   // bit for bit
        Assert.Equal(expected.GetProperty("pck_per_category").GetRawText(), merged.GetProperty("pck_per_category").GetRawText());
        Assert.Equal(9, merged.GetProperty("pairs").GetInt32());
    }

    /// <summary>
    /// munged, slurmctld and slurmd of this test's own (own key, socket, ports, state and spool folders), stopped and
    /// removed on dispose.
    /// </summary>
    private sealed class SingleNodeSlurm : IDisposable
    {
        private readonly List<Process> _daemons = [];
        private readonly string _conf;

        public string Dir { get; } = TestFolders.Create("slurm");

        public SingleNodeSlurm()
        {
            string munge = Path.Combine(Dir, "munge");
            Directory.CreateDirectory(munge);
            foreach (var d in new[] { "state", "spool", "log" }) Directory.CreateDirectory(Path.Combine(Dir, d));
            string key = Path.Combine(munge, "munge.key"), socket = Path.Combine(munge, "munge.socket");
            File.WriteAllBytes(key, System.Security.Cryptography.RandomNumberGenerator.GetBytes(1024));
            Ok(Processes.Run("chown", ["-R", "munge:munge", munge]));
            Ok(Processes.Run("chmod", ["0711", munge]));   // munged wants its socket's folder executable by all
            Ok(Processes.Run("chmod", ["0400", key]));
            Ok(Processes.Run("chmod", ["a+x", Dir, Path.GetDirectoryName(Dir)!]));   // munged (user munge) must reach its folder
            Start("runuser", ["-u", "munge", "--", "munged", "--foreground", "--key-file", key, "--socket", socket,
                "--pid-file", Path.Combine(munge, "munged.pid"), "--log-file", Path.Combine(munge, "munged.log"), "--seed-file", Path.Combine(munge, "munged.seed")]);
            WaitFor(() => File.Exists(socket), "munged's socket");

            string host = Processes.Run("hostname", ["-s"]).Stdout.Trim();
            _conf = Path.Combine(Dir, "slurm.conf");
            File.WriteAllText(_conf, $"""
                ClusterName=hpftest
                SlurmctldHost={host}(127.0.0.1)
                SlurmctldPort={FreePort()}
                SlurmdPort={FreePort()}
                SlurmUser=root
                SlurmdUser=root
                AuthType=auth/munge
                AuthInfo=socket={socket}
                CredType=cred/munge
                StateSaveLocation={Path.Combine(Dir, "state")}
                SlurmdSpoolDir={Path.Combine(Dir, "spool")}
                SlurmctldPidFile={Path.Combine(Dir, "slurmctld.pid")}
                SlurmdPidFile={Path.Combine(Dir, "slurmd.pid")}
                SlurmctldLogFile={Path.Combine(Dir, "log", "slurmctld.log")}
                SlurmdLogFile={Path.Combine(Dir, "log", "slurmd.log")}
                ProctrackType=proctrack/linuxproc
                TaskPlugin=task/none
                SelectType=select/cons_tres
                SelectTypeParameters=CR_CPU
                ReturnToService=2
                MpiDefault=none
                JobCompType=jobcomp/none
                AccountingStorageType=accounting_storage/none
                SchedulerType=sched/backfill
                NodeName={host} NodeAddr=127.0.0.1 CPUs=2 State=UNKNOWN
                PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
                """);
            Start("slurmctld", ["-D", "-f", _conf]);
            Start("slurmd", ["-D", "-f", _conf]);
            WaitFor(() => Run("sinfo", ["-h", "-o", "%t"]).Stdout.Trim() is "idle" or "mix" or "alloc", "the node to be idle");
        }

        private static void Ok((int ExitCode, string Stdout, string Stderr) run) => Assert.True(run.ExitCode == 0, run.Stderr);

        /// <summary>Starts a daemon in the foreground, its output appended to log/NAME.out.</summary>
        private void Start(string program, string[] args)
        {
            var info = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (var a in args) info.ArgumentList.Add(a);
            var process = Process.Start(info)!;
            string log = Path.Combine(Dir, "log", $"{(program == "runuser" ? args[3] : program)}.out");
            var gate = new object();
            void Append(object _, DataReceivedEventArgs e) { if (e.Data is not null) lock (gate) File.AppendAllText(log, e.Data + "\n"); }
            process.OutputDataReceived += Append;
            process.ErrorDataReceived += Append;
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            _daemons.Add(process);
        }

        private void WaitFor(Func<bool> condition, string what)
        {
            var deadline = DateTime.UtcNow.AddSeconds(60);
            while (!condition())
            {
                if (DateTime.UtcNow > deadline) throw new TimeoutException($"Slurm: waited a minute for {what}; {Logs()}");
                Thread.Sleep(250);
            }
        }

        /// <summary>A Slurm client command against this cluster (SLURM_CONF), with extra environment.</summary>
        public (int ExitCode, string Stdout, string Stderr) Run(string program, string[] args, Dictionary<string, string>? environment = null)
        {
            var env = new Dictionary<string, string>(environment ?? []) { ["SLURM_CONF"] = _conf };
            return Processes.Run(program, args, Dir, environment: env);
        }

        public void WaitUntilGone(IReadOnlyList<string> jobs, TimeSpan timeout)
        {
            var deadline = DateTime.UtcNow + timeout;
            while (Run("squeue", ["-h", "-j", string.Join(",", jobs), "-o", "%i %t"]).Stdout.Trim() is { Length: > 0 } queued)
            {
                if (DateTime.UtcNow > deadline) throw new TimeoutException($"Slurm jobs still queued: {queued}; {Logs()}");
                Thread.Sleep(1000);
            }
        }

        public string Logs() => string.Join("\n", Directory.EnumerateFiles(Dir, "*.*", SearchOption.AllDirectories)
            .Where(f => f.EndsWith(".out") || f.EndsWith(".log"))
            .Select(f => $"--- {Path.GetFileName(f)}\n{string.Join("\n", File.ReadLines(f).TakeLast(15))}"));

        public void Dispose()
        {
            foreach (var daemon in Enumerable.Reverse(_daemons))
            {
                try { if (!daemon.HasExited) { daemon.Kill(entireProcessTree: true); daemon.WaitForExit(10_000); } }
                catch (InvalidOperationException) { }
                daemon.Dispose();
            }
            TestFolders.Delete(Dir);
        }
    }
}
