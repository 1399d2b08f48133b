package dev.tidemark.api;

import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import org.junit.jupiter.api.Test;

import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;
import static com.tngtech.archunit.base.DescribedPredicate.not;
import static com.tngtech.archunit.core.domain.JavaClass.Predicates.belongToAnyOf;
import static com.tngtech.archunit.core.domain.JavaClass.Predicates.resideInAPackage;
import static com.tngtech.archunit.core.domain.JavaClass.Predicates.resideOutsideOfPackage;

/**
 * The api module goes through the engine's operations. Exceptions, listed: the Engine and its EngineConfig to start
 * one, and the quickstart's local PostgreSQL (ChildEnvironment, PgBinaries, PgServer, ServerUser).
 */
class ApiArchitectureTest {

    @Test
    void theApiUsesTheEngineThroughItsOperationsOnly() {
        JavaClasses api = new ClassFileImporter().withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
                .importPackages("dev.tidemark.api");
        noClasses().should().dependOnClassesThat(resideInAPackage("dev.tidemark.engine..")
                        .and(resideOutsideOfPackage("dev.tidemark.engine.operations.."))
                        .and(not(belongToAnyOf(dev.tidemark.engine.Engine.class, dev.tidemark.engine.config.EngineConfig.class,
                                dev.tidemark.engine.postgres.ChildEnvironment.class, dev.tidemark.engine.postgres.PgBinaries.class,
                                dev.tidemark.engine.postgres.PgServer.class, dev.tidemark.engine.postgres.ServerUser.class))))
                .check(api);
    }
}
