using System.Reflection;
using System.Text;

namespace HyperpixelFlow.Tests;

/// <summary>
/// The library's public surface, type by type and member by member, against the reviewed baseline in PublicAPI.txt:
/// a change of the surface fails here until the baseline is updated (run with HPF_UPDATE_PUBLIC_API=1), so it shows
/// in review.
/// </summary>
public class PublicApiTests
{
    private static string Name(Type t)
    {
        if (t.IsGenericParameter) return t.Name;
        if (t.IsArray) return Name(t.GetElementType()!) + "[" + new string(',', t.GetArrayRank() - 1) + "]";
        if (t.IsByRef) return Name(t.GetElementType()!) + "&";
        if (t.IsPointer) return Name(t.GetElementType()!) + "*";
        if (Nullable.GetUnderlyingType(t) is { } inner) return Name(inner) + "?";
        string name = t.IsNested ? Name(t.DeclaringType!) + "." + t.Name : (t.Namespace is null ? t.Name : t.Namespace + "." + t.Name);
        if (!t.IsGenericType) return name;
        return name[..name.IndexOf('`')] + "<" + string.Join(", ", t.GetGenericArguments().Select(Name)) + ">";
    }

    private static string Parameters(ParameterInfo[] ps) => string.Join(", ", ps.Select(p => $"{Name(p.ParameterType)} {p.Name}"));

    private static IEnumerable<string> Describe(Type t)
    {
        string kind = t.IsInterface ? "interface" : t.IsEnum ? "enum" : t.IsValueType ? "struct" : t.IsAbstract && t.IsSealed ? "static class" : "class";
        yield return $"{kind} {Name(t)}";
        const BindingFlags flags = BindingFlags.Public | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;
        var members = new List<string>();
        foreach (var c in t.GetConstructors(flags)) members.Add($"  ctor({Parameters(c.GetParameters())})");
        foreach (var p in t.GetProperties(flags).Where(p => !p.Name.Contains('<'))) members.Add($"  property {Name(p.PropertyType)} {p.Name}");
        foreach (var f in t.GetFields(flags).Where(f => !t.IsEnum || f.IsLiteral)) members.Add($"  field {Name(f.FieldType)} {f.Name}");
        foreach (var m in t.GetMethods(flags).Where(m => !m.IsSpecialName && !m.Name.Contains('<')))
            members.Add($"  {(m.IsStatic ? "static " : "")}{Name(m.ReturnType)} {m.Name}({Parameters(m.GetParameters())})");
        foreach (var m in members.Order(StringComparer.Ordinal)) yield return m;
    }

    [Fact]
    public void Public_surface_equals_the_reviewed_baseline()
    {
        var assembly = typeof(HyperpixelMatcher).Assembly;
        var surface = string.Join("\n", assembly.GetExportedTypes().OrderBy(Name, StringComparer.Ordinal).SelectMany(Describe)) + "\n";
        string baseline = Path.Combine(SharedData.RepoRoot, "tests", "HyperpixelFlow.Tests", "PublicAPI.txt");
        if (Environment.GetEnvironmentVariable("HPF_UPDATE_PUBLIC_API") == "1") File.WriteAllText(baseline, surface, new UTF8Encoding(false));
        var expected = File.Exists(baseline) ? File.ReadAllText(baseline).Replace("\r", "") : "";
        // Members are listed under their type, so a line may repeat across types: compare in order, show what differs.
        var added = surface.Split('\n').Except(expected.Split('\n')).ToList();
        var removed = expected.Split('\n').Except(surface.Split('\n')).ToList();
        Assert.True(surface == expected,
            "the public API changed; review it, then run the tests with HPF_UPDATE_PUBLIC_API=1 to update PublicAPI.txt\n" +
            string.Join("\n", added.Select(l => "+ " + l).Concat(removed.Select(l => "- " + l))));
    }
}
