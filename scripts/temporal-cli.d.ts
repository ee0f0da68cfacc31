export declare const CLI_VERSION: string;
export declare function cacheDir(): string;
export declare function findTemporalCli(): { path: string; source: string } | undefined;
export declare function ensureTemporalCli(log?: (message: string) => void): Promise<string>;
