using System.Reflection;

namespace HyperpixelFlow.Tests;

/// <summary>
/// The layout the libraries keep: the core (HyperpixelFlow) is what a user of the method needs and nothing else; the
/// evaluation and batch tooling (HyperpixelFlow.Evaluation) builds on it; the CLI and the web page on both. The member
/// by member public surface is reviewed at build time (PublicAPI.*.txt beside each library, RS0016/RS0017 errors).
/// </summary>
public class ArchitectureTests
{
    private static readonly Assembly Core = typeof(HyperpixelMatcher).Assembly;
    private static readonly Assembly Tooling = typeof(Evaluator).Assembly;

    [Fact]
    public void The_core_library_references_neither_the_tooling_nor_the_programs()
    {
        var references = Core.GetReferencedAssemblies().Select(a => a.Name).ToList();
        Assert.DoesNotContain(Tooling.GetName().Name, references);
        Assert.DoesNotContain("hpf", references);
        Assert.Contains(Core.GetName().Name, Tooling.GetReferencedAssemblies().Select(a => a.Name));
    }

    [Fact]
    public void The_core_library_shows_a_small_surface_without_kernels_or_tooling()
    {
        var exported = Core.GetExportedTypes();
        Assert.True(exported.Length <= 35, $"{exported.Length} public types in the core: " + string.Join(", ", exported.Select(t => t.Name).Order()));
        string[] internalNamespaces = ["HyperpixelFlow.Kernels", "HyperpixelFlow.Reference"];
        Assert.DoesNotContain(exported, t => internalNamespaces.Contains(t.Namespace));
        // No public member hands out raw memory.
        var pointerMembers = exported.SelectMany(t => t.GetMethods(BindingFlags.Public | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly))
            .Where(m => m.ReturnType.IsPointer || m.GetParameters().Any(p => p.ParameterType.IsPointer))
            .Select(m => m.DeclaringType!.Name + "." + m.Name).ToList();
        Assert.Empty(pointerMembers);
    }

    [Fact]
    public void Every_type_lives_in_the_namespace_of_its_folder()
    {
        foreach (var (assembly, project) in new[] { (Core, "HyperpixelFlow"), (Tooling, "HyperpixelFlow.Evaluation") })
        {
            string root = Path.Combine(SharedData.RepoRoot, "src", project);
            foreach (var file in Directory.EnumerateFiles(root, "*.cs", SearchOption.AllDirectories).Where(f => !f.Contains("/obj/") && !f.Contains("/bin/")))
            {
                string folder = Path.GetRelativePath(root, Path.GetDirectoryName(file)!);
                string expected = folder == "." ? project : project + "." + folder.Replace('/', '.');
                string? declared = File.ReadLines(file).FirstOrDefault(l => l.StartsWith("namespace ", StringComparison.Ordinal))?[10..].TrimEnd(';');
                Assert.True(declared == expected, $"{Path.GetRelativePath(SharedData.RepoRoot, file)} declares namespace {declared}, its folder says {expected}");
            }
        }
    }
}
