package dev.tidemark.engine;

import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import com.tngtech.archunit.lang.ArchRule;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.Map;

import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.classes;
import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;
import static com.tngtech.archunit.library.dependencies.SlicesRuleDefinition.slices;

/**
 * The engine's layout rules: packages without cycles, capabilities using only what another capability exposes, the
 * catalog and the node layer knowing no capability, the configuration standing on storage and postgres, and nothing in the
 * engine using the root facade.
 */
class ArchitectureTest {
    private static final String ENGINE = "dev.tidemark.engine";
    private static final String[] CAPABILITIES = {"registration", "wal", "basebackup", "dump", "restore", "retention", "schedule", "verify", "ownership"};

    /**
     * What each capability deliberately exposes to the others (a class and its nested types); the rest of a capability
     * is used by itself and the root facade only.
     */
    private static final Map<String, String> EXPOSED = Map.of(
            "registration", "",
            "wal", "Streams|ContinuityCheck|WalStreamer|WalStreamSettings|WalStreamStatus",
            "basebackup", "BaseBackupRequest|BaseBackupViews|StreamedWal|DurableWal|BackupManifest|BackupArchive|BackupProgress|Workers|DataDirectoryScan",
            "dump", "DumpRequest|DumpViews",
            "restore", "RestoreViews|RestoreRunner|WalScan",
            "retention", "Expiry|Retention",
            "schedule", "",
            "verify", "Verification",
            "ownership", "Takeover");

    private static JavaClasses engine;

    @BeforeAll
    static void importEngine() {
        engine = new ClassFileImporter().withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS).importPackages(ENGINE);
    }

    @Test
    void enginePackagesHaveNoCycles() {
        slices().matching(ENGINE + ".(*)..").should().beFreeOfCycles().check(engine);
    }

    @Test
    void nothingInTheEngineUsesTheRootPackage() {
        noClasses().that().resideOutsideOfPackage(ENGINE).should().dependOnClassesThat().resideInAPackage(ENGINE)
                .because("the root package is the facade that routes operations down; nothing below imports it")
                .check(engine);
    }

    @Test
    void theCatalogKnowsNoCapabilityNorTheNode() {
        noClasses().that().resideInAPackage(ENGINE + ".catalog..").should().dependOnClassesThat()
                .resideInAnyPackage(packages("node", CAPABILITIES)).check(engine);
    }

    @Test
    void theNodeLayerKnowsNoCapability() {
        noClasses().that().resideInAPackage(ENGINE + ".node..").should().dependOnClassesThat()
                .resideInAnyPackage(packages(null, CAPABILITIES)).check(engine);
    }

    @Test
    void operationsAndPostgresKnowNoCapability() {
        noClasses().that().resideInAnyPackage(ENGINE + ".operations..", ENGINE + ".postgres..").should().dependOnClassesThat()
                .resideInAnyPackage(packages("node", CAPABILITIES)).check(engine);
    }

    @Test
    void theConfigurationKnowsNoCapabilityNorTheCatalog() {
        noClasses().that().resideInAPackage(ENGINE + ".config..").should().dependOnClassesThat()
                .resideInAnyPackage(packages("node", "catalog", "operations", "recovery", "registration", "wal", "basebackup", "dump",
                        "restore", "retention", "schedule", "verify", "ownership"))
                .because("a node's configuration and the repository it names stand on storage (and postgres, to redact URLs)")
                .check(engine);
    }

    @Test
    void capabilitiesUseOnlyWhatOtherCapabilitiesExpose() {
        for (String capability : CAPABILITIES) {
            String pkg = ENGINE + "." + capability;
            String exposed = EXPOSED.get(capability);
            ArchRule rule = classes().that().resideInAPackage(pkg)
                    .and().haveNameNotMatching(exposed.isEmpty() ? "^$" : java.util.regex.Pattern.quote(pkg) + "\\.(" + exposed + ")(\\$.*)?")
                    .should().onlyHaveDependentClassesThat().resideInAnyPackage(pkg, ENGINE)
                    .because(capability + " exposes only " + (exposed.isEmpty() ? "nothing" : exposed) + " to other capabilities")
                    .allowEmptyShould(true);
            rule.check(engine);
        }
    }

    private static String[] packages(String first, String... names) {
        java.util.List<String> all = new java.util.ArrayList<>();
        if (first != null) {
            all.add(ENGINE + "." + first + "..");
        }
        for (String n : names) {
            all.add(ENGINE + "." + n + "..");
        }
        return all.toArray(String[]::new);
    }
}
