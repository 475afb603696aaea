// The fake `wx` global of the older tests: FakePlatform of kind wx
// (platforms.mjs), with the 5-socket limit of the real thing.
export { FakePlatform as FakeWx, MaxTasks } from './platforms.mjs';
