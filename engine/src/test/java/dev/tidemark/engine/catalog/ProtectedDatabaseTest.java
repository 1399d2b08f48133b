package dev.tidemark.engine.catalog;

import dev.tidemark.engine.catalog.AggregateScenarios.Scenario;
import org.axonframework.test.aggregate.AggregateTestFixture;
import org.axonframework.test.aggregate.ResultValidator;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.List;

import static org.hamcrest.Matchers.containsString;

/** The aggregate's decisions on Axon's test fixture (in memory); {@link ProtectedDatabaseOnStoresTest} runs them on the stores. */
class ProtectedDatabaseTest {

    static List<Scenario> scenarios() {
        return AggregateScenarios.all();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("scenarios")
    void decides(Scenario s) {
        AggregateTestFixture<ProtectedDatabase> fixture = new AggregateTestFixture<>(ProtectedDatabase.class);
        ResultValidator<ProtectedDatabase> then = (s.given().isEmpty() ? fixture.givenNoPriorActivity() : fixture.given(s.given()))
                .when(s.command());
        if (s.refusal() != null) {
            then.expectException(s.refusal());
            if (s.message() != null) {
                then.expectExceptionMessage(containsString(s.message()));
            }
            then.expectNoEvents();
        } else {
            then.expectSuccessfulHandlerExecution().expectEvents(s.events().toArray());
            if (s.result() != null) {
                then.expectResultMessagePayload(s.result());
            }
        }
    }
}
